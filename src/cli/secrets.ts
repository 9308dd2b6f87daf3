import { Command } from 'commander';
import { stringify } from 'yaml';
import { envName, generateFleetSecrets } from '../gateway/index.js';
import type { CliIo } from './io.js';
import { printResult } from './output.js';

const HEADER = `# Give every gateway of one store these same two settings, and keep them secret:
# in its config file (clawsession serve --config FILE), or in the environment as
# ${envName('signingKey')} and ${envName('refreshSecret')}.
`;

/** `clawsession secrets generate`: what a fleet of gateways must share, ready for their config. */
export function secretsCommand(io: CliIo): Command {
  return new Command('secrets')
    .description('Secrets a fleet of gateways shares: generate')
    .addCommand(
      new Command('generate')
        .description(
          'Print a new signingKey (a private Ed25519 JWK) and refreshSecret, as a YAML config file',
        )
        .option('--json', 'print them as a JSON config file instead')
        .addHelpText(
          'after',
          `
Gateways serving one store need the same signingKey, so that identity contexts
and access tokens signed by one verify on the others, and the same
refreshSecret, so that refresh tokens and login challenges from one are accepted
by the others. Without them each gateway generates its own at start, and warns.
  clawsession secrets generate > secrets.yaml
  clawsession config check secrets.yaml
`,
        )
        .action(async (options: { json?: boolean }) => {
          const secrets = await generateFleetSecrets();
          // No folding: each value stays on one line, to be copied into a variable as it is.
          printResult(io, options.json, secrets, HEADER + stringify(secrets, { lineWidth: 0 }));
        }),
    );
}
