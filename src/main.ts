import { ConfigError, loadConfig } from './config/load.js';
import { createLogger } from './logger.js';
import { startKonsul } from './server.js';

/**
 * The command: load config, start, and shut down cleanly on SIGINT/SIGTERM. Start-up failures
 * print one line naming the problem and exit non-zero, never a stack trace.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`konsul: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.log.level);
  let server;
  try {
    server = await startKonsul(config, { logger });
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    const detail =
      err.code === 'EADDRINUSE'
        ? `address already in use (${String((err as { address?: string }).address ?? '')}:${String((err as { port?: number }).port ?? '')})`
        : err.message;
    logger.fatal({ code: err.code }, `konsul could not start: ${detail}`);
    process.stderr.write(`konsul: could not start: ${detail}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing shutdown');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server
      .close()
      .then(() => {
        logger.info('konsul stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
