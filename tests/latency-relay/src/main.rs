//! A TCP relay that puts a fixed one-way delay on every byte, in both directions: the test
//! bed's stand-in for distance (this kernel has no netem qdisc).
//!
//! `latency-relay DELAY_MS LISTEN=UPSTREAM...` accepts on each `LISTEN` address and connects
//! each accepted connection to its `UPSTREAM`. Every chunk read from one side is written to the
//! other `DELAY_MS` after it was read, in order; a half-close travels the same way, after the
//! data before it. The upstream connection is opened `DELAY_MS` after the accept, so that the
//! server's first bytes (an SSH banner) reach the client one round trip after its connect, as
//! they would over a distant link.
//!
//! Test bed only. Errors end one relayed connection, never the relay.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks in flight per direction before reading pauses: bounds memory, never reorders.
const CHUNKS_IN_FLIGHT: usize = 256;
const CHUNK_BYTES: usize = 64 * 1024;

/// One listening address and where its connections go.
struct Route {
    listen: SocketAddr,
    upstream: SocketAddr,
}

fn parse_args(args: &[String]) -> Result<(Duration, Vec<Route>), String> {
    let usage = "usage: latency-relay DELAY_MS LISTEN=UPSTREAM...";
    let (delay, routes) = args.split_first().ok_or(usage)?;
    let delay: u64 = delay
        .parse()
        .map_err(|_| format!("DELAY_MS must be a whole number of milliseconds, not {delay:?}"))?;
    if routes.is_empty() {
        return Err(usage.to_string());
    }
    let routes = routes
        .iter()
        .map(|route| {
            let (listen, upstream) = route
                .split_once('=')
                .ok_or_else(|| format!("expected LISTEN=UPSTREAM, got {route:?}"))?;
            let address = |text: &str| {
                text.parse::<SocketAddr>()
                    .map_err(|error| format!("{text:?}: {error}"))
            };
            Ok(Route {
                listen: address(listen)?,
                upstream: address(upstream)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((Duration::from_millis(delay), routes))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (delay, routes) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("latency-relay: {message}");
            return ExitCode::from(2);
        }
    };
    let mut listeners = Vec::new();
    for route in &routes {
        match TcpListener::bind(route.listen).await {
            Ok(listener) => listeners.push((listener, route.upstream)),
            Err(error) => {
                eprintln!("latency-relay: cannot listen on {}: {error}", route.listen);
                return ExitCode::FAILURE;
            }
        }
    }
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|(listener, upstream)| tokio::spawn(accept_loop(listener, upstream, delay)))
        .collect();
    for task in accepting {
        let _ = task.await;
    }
    ExitCode::FAILURE
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, delay: Duration) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(relay(client, upstream, delay));
            }
            Err(error) => {
                eprintln!("latency-relay: accept: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Relays one connection; dropping both streams (on any error) closes both sides.
async fn relay(client: TcpStream, upstream: SocketAddr, delay: Duration) {
    tokio::time::sleep(delay).await;
    let server = match TcpStream::connect(upstream).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("latency-relay: connect {upstream}: {error}");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        delayed_copy(client_read, server_write, delay),
        delayed_copy(server_read, client_write, delay),
    );
}

/// A chunk and the instant it may be written; `None` data is the reader's end of stream.
type Delayed = (Instant, Option<Vec<u8>>);

/// Copies `from` into `to`, each chunk `delay` after it was read, keeping order.
async fn delayed_copy(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (sender, mut receiver) = mpsc::channel::<Delayed>(CHUNKS_IN_FLIGHT);
    let reading = async move {
        loop {
            let mut chunk = vec![0; CHUNK_BYTES];
            let read = from.read(&mut chunk).await.unwrap_or(0);
            let due = Instant::now() + delay;
            if read == 0 {
                let _ = sender.send((due, None)).await;
                return;
            }
            chunk.truncate(read);
            if sender.send((due, Some(chunk))).await.is_err() {
                return;
            }
        }
    };
    let writing = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            match chunk {
                Some(chunk) => {
                    if to.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(reading, writing);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_a_delay_and_routes() {
        let args = ["20".to_string(), "127.0.0.1:2022=127.0.0.2:22".to_string()];
        let (delay, routes) = parse_args(&args).expect("valid arguments");
        assert_eq!(delay, Duration::from_millis(20));
        assert_eq!(routes[0].listen, "127.0.0.1:2022".parse().expect("address"));
        assert_eq!(routes[0].upstream, "127.0.0.2:22".parse().expect("address"));
        assert!(parse_args(&["x".to_string()]).is_err());
        assert!(parse_args(&["5".to_string()]).is_err());
        assert!(parse_args(&["5".to_string(), "127.0.0.1:1".to_string()]).is_err());
    }

    #[tokio::test]
    async fn every_chunk_arrives_in_order_one_delay_later_each_way() {
        let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let echo_address = echo.local_addr().expect("echo address");
        tokio::spawn(async move {
            let (mut stream, _) = echo.accept().await.expect("accept");
            let mut buffer = [0; 1024];
            loop {
                let read = stream.read(&mut buffer).await.expect("read");
                if read == 0 {
                    return;
                }
                stream.write_all(&buffer[..read]).await.expect("write");
            }
        });
        let delay = Duration::from_millis(30);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let relay_address = listener.local_addr().expect("relay address");
        tokio::spawn(accept_loop(listener, echo_address, delay));

        let mut client = TcpStream::connect(relay_address).await.expect("connect");
        for round in 0..3u8 {
            let sent = std::time::Instant::now();
            let message = [round; 100];
            client.write_all(&message).await.expect("send");
            let mut answer = [0; 100];
            client.read_exact(&mut answer).await.expect("answer");
            let round_trip = sent.elapsed();
            assert_eq!(answer, message);
            // the first round also waits for the delayed upstream connect
            assert!(round_trip >= 2 * delay, "round {round} took {round_trip:?}");
        }
        client.shutdown().await.expect("half-close");
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("end of stream");
        assert!(rest.is_empty());
    }
}
