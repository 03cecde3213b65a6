//! `sio`, the Socket.IO command-line tool.
//!
//! `sio serve` runs a Socket.IO server with a documented demo behaviour ([`demo`]) and a status
//! page ([`status`]) on one port. Output discipline: stdout carries only data, status lines go
//! to stderr, and an error is one line on stderr with a non-zero exit code.

mod demo;
mod serve;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  sio serve                      serve on http://127.0.0.1:3000 (status page at /)
  sio serve --port 8080          another port (0 picks a free one)
  sio serve --host 0.0.0.0       listen on every interface
  sio serve --help               the demo events, the status page, the flags";

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
  sio serve --static ./public      serve ./public/index.html at /index.html";

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
