import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import ts from 'typescript';

/** One import: from a file under `src/` to another such file, or to a package by its specifier. */
export interface Arrow {
  from: string;
  to: string;
}

/** What an `import()` of anything but a string literal points to: it cannot be checked. */
export const COMPUTED_IMPORT = '<computed import()>';

/** Every `.ts` file under `dir`, as a slash-separated path that starts with `dir`. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => posix.join(dir, name.split('\\').join('/')))
    .sort();
}

/** The arrows of every file: relative specifiers resolved to the `.ts` file they name. */
export function arrowsOf(files: readonly string[]): Arrow[] {
  return files.flatMap((file) =>
    specifiersOf(file, readFileSync(file, 'utf8')).map((specifier) => ({
      from: file,
      to: resolve(file, specifier),
    })),
  );
}

function resolve(from: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier;
  return posix.join(posix.dirname(from), specifier).replace(/\.js$/, '.ts');
}

/**
 * Every module a file names: import and export-from declarations, `import type`
 * (a type arrow is still an arrow: it ties the two folders' shapes together),
 * `import()` calls and `import('…')` types.
 */
export function specifiersOf(fileName: string, text: string): string[] {
  const specifiers: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      specifiers.push(
        argument && ts.isStringLiteralLike(argument) ? argument.text : COMPUTED_IMPORT,
      );
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      specifiers.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
  return specifiers;
}
