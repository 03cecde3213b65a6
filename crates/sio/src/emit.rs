//! `sio emit`: emit one event and, with `--ack`, print the reply.

use std::time::Duration;

use socketio_client::AckError;

use crate::client::{self, ConnectArgs};

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
            .emit_with_ack::<(), _>(&args.event, &data)
            .timeout(Duration::from_millis(args.timeout))
            .raw()
            .await;
        match reply {
            Ok(reply) => {
                println!("{}", client::ack_line(&reply));
                Ok(())
            }
            Err(AckError::Timeout) => Err(format!(
                "no acknowledgement of {} within {} ms",
                args.event, args.timeout
            )),
            Err(e) => Err(format!("{}: {e}", args.event)),
        }
    } else {
        socket
            .emit(&args.event, &data)
            .map_err(|e| format!("{}: {e}", args.event))
    };
    // Leave the namespace: the DISCONNECT follows the event on the wire, and the connection
    // closes once both are written (within the client's close timeout), before the process
    // exits.
    socket.disconnect();
    manager.closed().await;
    manager.close();
    result
}
