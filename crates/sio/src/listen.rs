//! `sio listen`: connect and print every event as one line of compact JSON on stdout.

use std::io::Write as _;
use std::sync::Arc;

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
    /// Answer every event the server sends with an acknowledgement request, with these
    /// arguments: a JSON array, binary data as `{"$binary":"BASE64"}`. Without it such
    /// requests stay unanswered.
    #[arg(long, value_name = "JSON")]
    ack_reply: Option<String>,
}

/// What the handlers tell the printing loop.
enum Note {
    Event(String),
    Connected(String),
    Disconnected(DisconnectReason),
}

/// Runs until Ctrl-C, `--count` events, or the server's disconnect of the socket.
pub(crate) async fn run(args: ListenArgs) -> Result<(), String> {
    let ack_reply = args.ack_reply.as_deref().map(parse_reply).transpose()?;
    let ack_reply = Arc::new(ack_reply);
    let (tx, mut rx) = mpsc::channel::<Note>(QUEUE);
    let (on_event, on_connect, on_disconnect) = (tx.clone(), tx.clone(), tx);
    let connected = client::connect(&args.connect, true, move |builder| {
        builder
            .on_any(move |_socket, name, payload, ack| {
                let tx = on_event.clone();
                if let (Some(ack), Some(reply)) = (ack, ack_reply.as_ref()) {
                    // Fails only when the connection is gone, and then the server has given
                    // up on the ack anyway.
                    let _ = ack.send(reply);
                }
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
    // What was sent (acknowledgements) goes out before the process exits.
    connected.socket.disconnect();
    connected.manager.closed().await;
    connected.manager.close();
    result
}

/// Parses `--ack-reply`: a JSON array of the reply's arguments.
fn parse_reply(text: &str) -> Result<Vec<client::Data>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("--ack-reply is not JSON: {e}"))?;
    match client::Data::from_json(value).map_err(|e| format!("--ack-reply: {e}"))? {
        client::Data::Array(items) => Ok(items),
        _ => Err("--ack-reply must be a JSON array (the reply's arguments)".into()),
    }
}
