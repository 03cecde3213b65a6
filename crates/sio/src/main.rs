//! `sio`, the Socket.IO command-line tool.
//!
//! `sio serve` runs a Socket.IO server with a documented demo behaviour ([`demo`]) and a status
//! page ([`status`]) on one port; `sio listen`, `sio emit` and `sio bench` are clients built on
//! `socketio-client` ([`client`] holds what they share). Output discipline: stdout carries only data, status lines go
//! to stderr, and an error is one line on stderr with a non-zero exit code.

mod bench;
mod client;
mod demo;
mod emit;
mod listen;
mod serve;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  sio serve                                     a demo server on http://127.0.0.1:3000
  sio listen http://127.0.0.1:3000 | jq .       print every event as a JSON line
  sio emit http://127.0.0.1:3000 echo '\"hi\"' --ack
  sio bench http://127.0.0.1:3000 --clients 100 --duration 10
  sio COMMAND --help                            flags and examples of a command";

const SERVE_HELP: &str = "\
Demo behaviour:
  namespace /
    on connect        emits `welcome` with the socket id
    echo ...args      with an ack: acknowledges with the same arguments (binary included);
                      without: emits `echo` back with them
    join ROOM         joins ROOM; acknowledges with the socket's rooms
    leave ROOM        leaves ROOM; acknowledges with the socket's rooms
    to-room ROOM ...  emits `room-message` with the same arguments (ROOM first, binary
                      included) to ROOM's other members; acknowledges with their number
    broadcast ...args emits `broadcast` with the same arguments to every other socket of /;
                      acknowledges with their number
  namespace /chat (auth {\"name\": \"alice\"} sets the nickname, up to 32 characters)
    on connect        emits `welcome` {name, users}; the others get `joined` {name}
    message TEXT      the others get `message` {from, text}; acknowledges with their number
    on disconnect     the others get `left` {name}

HTTP:
  /                   the status page (live sessions, namespaces, rooms, message rates)
  /status.json        the same as JSON
  /socket.io/         the Socket.IO endpoint (polling and WebSocket)
  /FILE               with --static DIR: the files of DIR (no subdirectories; the flag
                      may be repeated, the directories are searched in order)

Output: stdout stays empty; status lines (the `sio: listening on http://ADDR` readiness
line, connects and disconnects) go to stderr. Ctrl-C or SIGTERM shut down gracefully: every
socket is disconnected with `server shutting down` and open connections get up to 10 s to
close.

Examples:
  sio serve
  sio serve --port 0 --quiet
  sio serve --static ./public      serve ./public/index.html at /index.html
  sio serve --port 3001 --redis redis://127.0.0.1:6379
                                   one node of a cluster; start more on other ports";

const LISTEN_HELP: &str = "\
Output: one line of compact JSON per event on stdout, {\"event\":NAME,\"args\":[...]}, binary
arguments as {\"$binary\":\"BASE64\"}. Status lines (connected, disconnected) go to stderr.
The client reconnects after a lost connection; it stops on Ctrl-C, after --count events, or
when the server disconnects the socket (exit code 1). A first connection attempt that fails
ends it at once, with the cause (connection refused, name resolution, TLS) on stderr. With
--ack-reply, events for which the server waits for an acknowledgement are answered with the
given arguments.

Examples:
  sio listen http://127.0.0.1:3000
  sio listen http://127.0.0.1:3000/chat --auth '{\"name\":\"ann\"}'
  sio listen http://127.0.0.1:3000 --transport websocket --count 1 | jq .args
  sio listen http://127.0.0.1:3000 --ack-reply '[\"ok\",{\"$binary\":\"AQID\"}]'";

const EMIT_HELP: &str = "\
Each ARGS_JSON is one argument, as JSON: '\"text\"', 42, '{\"a\":[1,2]}'; binary data is
{\"$binary\":\"BASE64\"}. With --ack the reply's arguments are printed on stdout as one JSON
array, binary data in it as {\"$binary\":\"BASE64\"} too. Exit code 1, with the reason on
stderr, when the connection fails, the server refuses the namespace (its message is shown) or
the acknowledgement does not come in time. Without --ack the command returns once the event
and the DISCONNECT after it are written.

Examples:
  sio emit http://127.0.0.1:3000 echo '\"hello\"' '{\"n\":1}' --ack
  sio emit http://127.0.0.1:3000 to-room '\"lobby\"' '{\"$binary\":\"AQID\"}'
  sio emit http://127.0.0.1:3000/chat message '\"hi\"' --auth '{\"name\":\"bob\"}' --ack
  sio emit http://127.0.0.1:3000 echo 1 --ack --timeout 500 --transport polling";

const BENCH_HELP: &str = "\
Each client has its own connection and emits --event (default `echo`, which `sio serve`
acknowledges and, without an ack, emits back) with a string of --size bytes, --rate times a
second, for --duration seconds. With acknowledgements the latency is emit to ack; with
--no-ack it is emit to the server's echo. A progress bar is drawn on stderr when it is a
terminal; the summary (throughput, latency p50/p99/p99.9, errors) goes to stdout.

Examples:
  sio bench http://127.0.0.1:3000
  sio bench http://127.0.0.1:3000 --clients 200 --rate 50 --duration 30 --size 1024
  sio bench http://127.0.0.1:3000 --clients 1 --rate 0 --duration 5 --json
  sio bench http://127.0.0.1:3000 --no-ack --transport websocket";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "sio",
    version,
    about = "The Socket.IO command-line tool",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a Socket.IO server with a demo behaviour and a status page.
    #[command(after_help = SERVE_HELP)]
    Serve(serve::ServeArgs),
    /// Connects and prints every event as one line of JSON.
    #[command(after_help = LISTEN_HELP)]
    Listen(listen::ListenArgs),
    /// Emits one event; with --ack, prints the acknowledgement.
    #[command(after_help = EMIT_HELP)]
    Emit(emit::EmitArgs),
    /// Load generator: clients, rate, duration, payload size; throughput and latency.
    #[command(after_help = BENCH_HELP)]
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sio: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Listen(args) => listen::run(args).await,
            Command::Emit(args) => emit::run(args).await,
            Command::Bench(args) => bench::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sio: error: {e}");
            ExitCode::FAILURE
        }
    }
}
