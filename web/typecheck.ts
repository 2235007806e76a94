/**
 * Type-checks web/src as the browser sees it: web/tsconfig.json has DOM types and no Bun or Node types, so
 * `Bun.file(…)` or `process.env` in web code fails here. The web reaches server code through
 * `import type { AppRouter }`, which brings server files into the program; those need Bun's types and are
 * checked by the root tsconfig instead, so only diagnostics in web/ files are reported. (`tsc -p` cannot
 * limit its report to some files, and project references would need declaration builds of the server.)
 */
import path from 'node:path';
import ts from 'typescript';

const configPath = path.join(import.meta.dir, 'tsconfig.json');
const config = ts.getParsedCommandLineOfConfigFile(configPath, undefined, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
    throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  },
});
if (!config) throw new Error(`cannot read ${configPath}`);
const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
const webDir = `${import.meta.dir}${path.sep}`;
const diagnostics = [...config.errors, ...ts.getPreEmitDiagnostics(program)].filter(
  (diagnostic) => diagnostic.file === undefined || path.resolve(diagnostic.file.fileName).startsWith(webDir),
);
if (diagnostics.length > 0) {
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (fileName) => fileName,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => '\n',
  };
  const format = process.stderr.isTTY ? ts.formatDiagnosticsWithColorAndContext : ts.formatDiagnostics;
  console.error(format(diagnostics, host));
  process.exit(1);
}
