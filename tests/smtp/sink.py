"""An SMTP server for the mail tests: accepts every message and stores it, as received, in a
file of its own in DIR (written under a temporary name, then renamed, so that a reader never
sees half a message). A recipient whose address starts with `refused` is refused for good
(550), as a server refuses a mailbox that does not exist. Usage: sink.py PORT DIR. Runs until
killed."""

import os
import signal
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        # Nanoseconds first: the names sort in the order the messages arrived, across restarts.
        name = f"{time.time_ns()}-{os.getpid()}-{self.count:06d}"
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name + ".eml"))
        return "250 Message accepted"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    # Blocked before the server's thread starts, so that sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    # start() returns once the server answers.
    controller.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
