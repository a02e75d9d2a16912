import { loadHelpClass, type Hook } from '@oclif/core';
import { UsageError } from '@pg/core';
import { errorEnvelope, renderError } from '../envelope.js';

/**
 * `pg frobnicate`: a usage error (exit 2) in pg's own format, listing the commands there are.
 * `pg help [command]` is what many users type first, so it shows the help rather than an error.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  // oclif joins words into ids with ':', so `pg help report` arrives as 'help:report'.
  const [first, ...topic] = opts.id.split(':');
  if (first === 'help') {
    const Help = await loadHelpClass(opts.config);
    await new Help(opts.config).showHelp([...topic, ...(opts.argv ?? [])]);
    return;
  }
  const commands = opts.config.commandIDs.filter((id) => !id.startsWith('help')).sort();
  const envelope = errorEnvelope(new UsageError(`'${opts.id}' is not a pg command.`, { action: `Use one of: ${commands.join(', ')}. 'pg --help' describes them.` }), []);
  if (opts.argv?.includes('--json') === true) {
    process.stdout.write(`${JSON.stringify(envelope, null, 2)}\n`);
  } else {
    process.stderr.write(`${renderError(envelope)}\n`);
  }
  this.exit(envelope.status);
};

export default hook;
