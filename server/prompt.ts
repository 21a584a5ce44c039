/**
 * A password typed on the terminal without echo, for the `kmip` command's login and
 * `kmipd users`' new passwords: one function, so both keep the same guarantees.
 */

/**
 * Ask on standard error and read one line from standard input (a TTY) without echo.
 * Enter ends the line, Backspace removes a character; Ctrl-C or Ctrl-D rejects with
 * `cancelled()`, the caller's own error.
 */
export function promptHidden(question: string, cancelled: () => Error): Promise<string> {
  const input = process.stdin;
  return new Promise((resolvePrompt, reject) => {
    // Raw mode before the question: what is typed as soon as it shows must not be echoed.
    input.setRawMode(true);
    process.stderr.write(question);
    let typed = '';
    const finish = (error?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error === undefined) resolvePrompt(typed);
      else reject(error);
    };
    const onData = (chunk: string): void => {
      for (const c of chunk) {
        if (c === '\r' || c === '\n') return finish();
        if (c === '\u0003' || c === '\u0004') return finish(cancelled());
        if (c === '\u007f' || c === '\b') typed = [...typed].slice(0, -1).join('');
        else typed += c;
      }
    };
    input.setEncoding('utf8');
    input.on('data', onData);
    input.resume();
  });
}
