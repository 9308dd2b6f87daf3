/** Debian's chromium, which `scripts/install-chromium.sh` installs; override with CLAWSESSION_TEST_CHROMIUM. */
export const CHROMIUM = process.env.CLAWSESSION_TEST_CHROMIUM ?? '/usr/bin/chromium';
