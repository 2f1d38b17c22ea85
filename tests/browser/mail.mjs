// A real SMTP server for the browser tests (nodemailer's smtp-server, messages parsed with
// mailparser): spa-auth delivers to it over plain SMTP on 127.0.0.1 (`SPA_AUTH_SMTP_URL=
// smtp://127.0.0.1:<port>`), and a test waits for the message it expects and follows its link.
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

/**
 * Starts the server on a free port. Resolves with `{ port, url, inbox, close }`: `url` is what
 * `SPA_AUTH_SMTP_URL` takes; `inbox` holds every message received (see `Inbox`).
 */
export function startSmtpServer() {
  const inbox = new Inbox();
  const server = new SMTPServer({
    // A local relay: no TLS, no login.
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    banner: 'spa-auth browser tests',
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          inbox.add({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            headers: parsed.headers,
          });
          callback();
        },
        (err) => callback(err),
      );
    },
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.server.address();
      resolve({
        port,
        url: `smtp://127.0.0.1:${port}`,
        inbox,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

/** Every message the SMTP server received, in order; tests take them one by one. */
export class Inbox {
  #messages = [];
  #taken = new Set();
  #waiters = new Set();

  add(message) {
    this.#messages.push(message);
    for (const wake of this.#waiters) wake();
  }

  /** All messages received so far (taken or not), for a failure message. */
  get all() {
    return [...this.#messages];
  }

  /**
   * The first message to `to` (and whose subject matches `subject`, when given) not taken yet;
   * waits up to `timeout` ms for it. Taking it means a later call waits for the next one.
   */
  take(to, { subject, timeout = 15_000 } = {}) {
    const address = to.toLowerCase();
    const find = () =>
      this.#messages.findIndex(
        (m, i) => !this.#taken.has(i) && m.to.includes(address) && (subject === undefined || subject.test(m.subject)),
      );
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = find();
        if (i < 0) return false;
        this.#taken.add(i);
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(this.#messages[i]);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const seen = this.#messages.map((m) => `  to ${m.to.join(', ')}: ${m.subject}`).join('\n') || '  (none)';
        reject(new Error(`no mail to ${to}${subject ? ` matching ${subject}` : ''} within ${timeout} ms; received:\n${seen}`));
      }, timeout);
      if (!check()) this.#waiters.add(check);
    });
  }

  /** How many messages to `to` arrived so far. */
  count(to) {
    const address = to.toLowerCase();
    return this.#messages.filter((m) => m.to.includes(address)).length;
  }
}

/**
 * The link to `${base}${path}` in a message (the text part, else the HTML), with its fragment.
 * Throws when there is none, or when the text and HTML parts disagree.
 */
export function linkIn(message, base, path) {
  const escaped = `${base}${path}`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const pattern = new RegExp(`${escaped}(?:#[^\\s"'<>)]*)?`, 'g');
  const inText = message.text.match(pattern) ?? [];
  const inHtml = (message.html.match(pattern) ?? []).map((l) => l.replaceAll('&amp;', '&'));
  const link = inText[0] ?? inHtml[0];
  if (!link) throw new Error(`no link to ${base}${path} in the mail "${message.subject}":\n${message.text}`);
  for (const other of [...inText, ...inHtml]) {
    if (other !== link) throw new Error(`the mail "${message.subject}" has two different links: ${link} and ${other}`);
  }
  return link;
}
