//! `sio listen`: connect and print every event as one line of compact JSON on stdout.

use std::io::Write as _;

use socketio_client::{DisconnectReason, Socket};
use tokio::sync::mpsc;

use crate::client::{self, ConnectArgs};

/// Events waiting to be written when stdout is slower than the server: past this, the
/// client's handlers wait (and with them the reading of the connection).
const QUEUE: usize = 1024;

/// `sio listen` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Exit after printing this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// What the handlers tell the printing loop.
enum Note {
    Event(String),
    Connected(String),
    Disconnected(DisconnectReason),
}

/// Runs until Ctrl-C, `--count` events, or the server's disconnect of the socket.
pub(crate) async fn run(args: ListenArgs) -> Result<(), String> {
    let (tx, mut rx) = mpsc::channel::<Note>(QUEUE);
    let (on_event, on_connect, on_disconnect) = (tx.clone(), tx.clone(), tx);
    let connected = client::connect(&args.connect, true, move |builder| {
        builder
            .on_any(move |_socket, name, payload, _ack| {
                let tx = on_event.clone();
                async move {
                    let _ = tx
                        .send(Note::Event(client::event_line(&name, &payload)))
                        .await;
                }
            })
            .on_connect(move |socket: Socket| {
                let transport = socket.manager().transport().map_or("?", |t| t.as_str());
                let line = format!(
                    "sio: connected to namespace {} as {} ({transport})",
                    socket.ns(),
                    socket.id().unwrap_or_default()
                );
                let _ = on_connect.try_send(Note::Connected(line));
            })
            .on_disconnect(move |_socket, reason| {
                let _ = on_disconnect.try_send(Note::Disconnected(reason));
            })
    })
    .await?;
    let mut printed = 0u64;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let result = loop {
        if args.count.is_some_and(|n| printed >= n) {
            break Ok(());
        }
        let note = tokio::select! {
            note = rx.recv() => note,
            _ = &mut interrupt => break Ok(()),
        };
        match note {
            Some(Note::Event(line)) => {
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    // The reader went away (`| head -1`): nothing left to do.
                    break Ok(());
                }
                printed += 1;
            }
            Some(Note::Connected(line)) => eprintln!("{line}"),
            Some(Note::Disconnected(reason)) if reason.reconnects() => {
                eprintln!("sio: disconnected ({reason}), reconnecting");
            }
            Some(Note::Disconnected(reason)) => {
                break Err(format!("disconnected: {reason}"));
            }
            None => break Err("the client stopped".into()),
        }
    };
    connected.socket.disconnect();
    connected.manager.close();
    result
}
