//! `sio emit`: emit one event and, with `--ack`, print the reply.

use std::time::Duration;

use serde_json::Value;
use socketio_client::{AckError, ManagerEvent};

use crate::client::{self, ConnectArgs};

/// Longest wait for the connection to close after the event went out.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Without an acknowledgement nothing tells that the server has the event, and the client's
/// `Manager` aborts the requests still in flight (the polling POST carrying the event, the
/// WebSocket write) as soon as its connection closes: an unacknowledged event is given this
/// long to go out before the socket disconnects. An acknowledged emit needs no such wait.
const LINGER: Duration = Duration::from_millis(300);

/// `sio emit` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct EmitArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The event name.
    event: String,
    /// The arguments, each a JSON value; `{"$binary":"BASE64"}` is binary data.
    #[arg(value_name = "ARGS_JSON")]
    args: Vec<String>,
    /// Ask for an acknowledgement and print its arguments as one line of JSON.
    #[arg(long)]
    ack: bool,
    /// Longest wait for the acknowledgement, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000, requires = "ack")]
    timeout: u64,
}

/// Connects, emits, prints the acknowledgement if asked, and disconnects.
pub(crate) async fn run(args: EmitArgs) -> Result<(), String> {
    let data = client::parse_args(&args.args)?;
    let connected = client::connect(&args.connect, false, |builder| builder).await?;
    let (manager, socket) = (&connected.manager, &connected.socket);
    let result = if args.ack {
        let reply = socket
            .emit_with_ack::<Vec<Value>, _>(&args.event, &data)
            .timeout(Duration::from_millis(args.timeout))
            .await;
        match reply {
            Ok(reply) => {
                if reply.iter().any(client::has_placeholder) {
                    eprintln!(
                        "sio: the acknowledgement carries binary data, shown as its placeholders"
                    );
                }
                println!("{}", Value::Array(reply));
                Ok(())
            }
            Err(AckError::Timeout) => Err(format!(
                "no acknowledgement of {} within {} ms",
                args.event, args.timeout
            )),
            Err(e) => Err(format!("{}: {e}", args.event)),
        }
    } else {
        let sent = socket
            .emit(&args.event, &data)
            .map_err(|e| format!("{}: {e}", args.event));
        if sent.is_ok() {
            tokio::time::sleep(LINGER).await;
        }
        sent
    };
    // Leave the namespace after the event (the DISCONNECT follows it on the wire) and wait
    // for the connection to close, so the event is written before the process exits.
    let mut events = manager.events();
    socket.disconnect();
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Ok(event) = events.recv().await {
            if matches!(event, ManagerEvent::Close(_)) {
                break;
            }
        }
    })
    .await;
    manager.close();
    result
}
