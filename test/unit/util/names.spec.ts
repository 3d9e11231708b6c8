import { printable } from '../../../src/util/names.js';

describe('printable', () => {
  it('shows a plain name or key as it is', () => {
    expect(printable('default/web-0')).toBe('default/web-0');
    expect(printable('system:node.example_1')).toBe('system:node.example_1');
  });

  it('quotes a name a log line could be forged with, and cuts a long one', () => {
    expect(printable('ns/a\n{"level":"error","msg":"forged"}')).toBe(
      '"ns/a\\n{\\"level\\":\\"error\\",\\"msg\\":\\"forged\\"}"',
    );
    expect(printable('a\u001b[31mred')).toBe('"a\\u001b[31mred"');
    expect(printable('x'.repeat(1000))).toBe(JSON.stringify('x'.repeat(256)));
  });
});
