#!/usr/bin/env node
import { Command } from 'commander';
import { registerStart } from './start.js';
import { registerMigrate } from './migrate.js';
import { registerReceiver } from './receiver.js';
import { registerKeys } from './keys.js';
import { registerReseal } from './reseal.js';
import { registerFleet } from './fleet.js';
import { registerLoad } from './load.js';
import { registerDemo } from './demo.js';

/** The `confirma` command line: one file per command, each exporting `register<Name>(program)`. */
export function buildProgram(): Command {
  const program = new Command('confirma')
    .description('Confirma: durable, ordered, signed delivery of payment confirmations to merchants.')
    .version('0.1.0');
  registerStart(program);
  registerMigrate(program);
  registerReceiver(program);
  registerKeys(program);
  registerReseal(program);
  registerFleet(program);
  registerLoad(program);
  registerDemo(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
