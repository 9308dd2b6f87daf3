import { Command } from 'commander';
import { redactUrl } from '../core/index.js';
import { type GatewayConfig, loadConfig } from '../gateway/index.js';
import type { CliIo } from './io.js';
import { printResult } from './output.js';

/**
 * `clawsession config check FILE`: validates the file together with the
 * environment, as `serve` would, without opening the store. A bad config
 * throws ConfigError naming each bad field (exit code 2).
 */
export function configCommand(io: CliIo): Command {
  return new Command('config').description('Configuration files: check').addCommand(
    new Command('check')
      .description(
        'Validate a JSON or YAML config file together with the environment, as serve would, without starting',
      )
      .argument('<file>', 'the config file')
      .option('--json', 'print the summary as one JSON document instead of text')
      .action((file: string, options: { json?: boolean }) => {
        const config = loadConfig({ file, env: process.env });
        const routes = config.routes.map(({ prefix, upstream, auth }) => ({
          prefix,
          upstream,
          auth,
        }));
        const summary = {
          store: redactUrl(config.store),
          listen: `${config.host}:${config.port}`,
          credentials: config.auth.source,
          anomaly: anomalySummary(config),
          events: eventsSummary(config),
        };
        printResult(
          io,
          options.json,
          { ok: true, file, ...summary, routes },
          [
            `config ok: ${file}`,
            `  store: ${summary.store}`,
            `  listen: ${summary.listen}`,
            `  credentials: ${summary.credentials}`,
            `  anomaly detection: ${summary.anomaly ?? 'off'}`,
            `  events: ${summary.events ?? 'off'}`,
            `  routes: ${routes.length === 0 ? 'none' : routes.map(({ prefix, upstream, auth }) => `${prefix} -> ${upstream} (${auth})`).join(', ')}`,
            '',
          ].join('\n'),
        );
      }),
  );
}

/** The anomaly rules that run and what each does, `network-change (revoke), …`; null when detection is off. */
/** The sinks events go to, by name, kind and host (never a URL's password). */
function eventsSummary(config: GatewayConfig): string | null {
  if (!config.events) return null;
  const sinks = config.events.sinks.map(
    (sink) => `${sink.name ?? sink.kind} (${sink.kind} at ${new URL(sink.url).host})`,
  );
  return sinks.length === 0 ? 'audit log only, no sink' : sinks.join(', ');
}

function anomalySummary(config: GatewayConfig): string | null {
  if (!config.anomaly) return null;
  const on = Object.entries(config.anomaly.rules).filter(([, rule]) => rule.enabled);
  return on.length === 0
    ? 'no rule enabled'
    : on.map(([name, rule]) => `${name} (${rule.action})`).join(', ');
}
