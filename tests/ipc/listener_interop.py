"""The Python side of tests/ipc/listener_test.cc's interoperation tests.

    listener_interop.py listen ADDRESS KEY   serve one client: echo each
                                             message reversed until EOF
    listener_interop.py client ADDRESS KEY   send a few messages, check the
                                             reversed echoes

ADDRESS starting with '@' is the abstract address '\\0' + the rest; KEY '-'
means authkey=None. Exit codes: 0 ok, 3 AuthenticationError, 4 bad echo.
"""
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener


def main():
    mode, address, key = sys.argv[1], sys.argv[2], sys.argv[3]
    if address.startswith('@'):
        address = '\0' + address[1:]
    authkey = None if key == '-' else key.encode()
    if mode == 'listen':
        with Listener(address, authkey=authkey) as listener:
            print('ready', flush=True)
            try:
                conn = listener.accept()
            except AuthenticationError as e:
                print('auth-error', e, flush=True)
                return 3
            with conn:
                while True:
                    try:
                        m = conn.recv_bytes()
                    except EOFError:
                        return 0
                    conn.send_bytes(m[::-1])
    try:
        conn = Client(address, authkey=authkey)
    except AuthenticationError as e:
        print('auth-error', e, flush=True)
        return 3
    with conn:
        for m in (b'hello', b'', b'x' * 100000, b'\x00\xff'):
            conn.send_bytes(m)
            if conn.recv_bytes() != m[::-1]:
                return 4
    return 0


if __name__ == '__main__':
    sys.exit(main())
