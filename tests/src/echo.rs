//! Tiny TCP servers that answer with their name, and a client for them: the
//! backends and clients of load-balancing tests (which backend served this
//! connection, does an established connection keep flowing).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::netns::Netns;
use crate::process::Process;

/// A server in `ns` on `addr:port` that, for every connection, writes `name`
/// and a newline, then one more such line for every line it reads, until the
/// client closes. Runs python3 (threads: connections are independent).
pub fn name_server(ns: &Netns, addr: IpAddr, port: u16, name: &str) -> Process {
    let family = if addr.is_ipv6() {
        "AF_INET6"
    } else {
        "AF_INET"
    };
    let script = format!(
        r#"
import socket, threading
def serve(c):
    with c:
        f = c.makefile("rb")
        try:
            c.sendall(b"{name}\n")
            for _ in f:
                c.sendall(b"{name}\n")
        except OSError:
            pass
s = socket.socket(socket.{family}, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{addr}", {port}))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#
    );
    ns.spawn(&["python3", "-u", "-c", &script], &[])
}

/// A connection from inside `ns`; the socket keeps working after the
/// thread that made it has left the namespace.
pub fn connect(ns: &Netns, addr: IpAddr, port: u16) -> std::io::Result<BufReader<TcpStream>> {
    ns.in_netns(|| {
        let stream =
            TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(BufReader::new(stream))
    })
}

/// The line a [`name_server`] sends (its name), or why none came.
pub fn read_name(conn: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    Ok(line.trim().to_string())
}

/// Asks an open connection again: the server answers its name once more.
pub fn ask(conn: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    conn.get_mut().write_all(b"?\n")?;
    read_name(conn)
}

/// Opens a connection from `ns`, reads the server's name, closes.
pub fn fetch_name(ns: &Netns, addr: IpAddr, port: u16) -> std::io::Result<String> {
    let mut conn = connect(ns, addr, port)?;
    read_name(&mut conn)
}
