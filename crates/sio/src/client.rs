//! What the client commands (`listen`, `emit`, `bench`) share: the connection flags, the
//! connect step with one-line errors, and JSON arguments with binary written as
//! `{"$binary":"BASE64"}`.

use std::time::Duration;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use socketio_client::{
    Binary, ConnectError, ErrorKind, Manager, Payload, Socket, SocketBuilder, TransportMode,
};

/// The key that marks binary data in the JSON the commands read and print.
pub(crate) const BINARY_KEY: &str = "$binary";

/// How to connect: the flags every client command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Server URL, `http://HOST:PORT` or `https://…`; a path names the namespace
    /// (`http://127.0.0.1:3000/chat`).
    pub(crate) url: String,
    /// Namespace to join, instead of the URL's path.
    #[arg(long, short)]
    pub(crate) namespace: Option<String>,
    /// Auth payload of the CONNECT packet: a JSON object.
    #[arg(long, value_name = "JSON")]
    pub(crate) auth: Option<String>,
    /// Transports: polling first then WebSocket (`upgrade`), or only one of them.
    #[arg(long, value_enum, default_value_t = TransportArg::Upgrade)]
    pub(crate) transport: TransportArg,
    /// Longest wait for the connection to the namespace, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub(crate) connect_timeout: u64,
}

/// `--transport`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub(crate) enum TransportArg {
    /// HTTP long-polling only.
    Polling,
    /// WebSocket only.
    Websocket,
    /// Polling first, then an upgrade to WebSocket (the JS client's default).
    Upgrade,
}

impl From<TransportArg> for TransportMode {
    fn from(t: TransportArg) -> Self {
        match t {
            TransportArg::Polling => Self::PollingOnly,
            TransportArg::Websocket => Self::WebSocketOnly,
            TransportArg::Upgrade => Self::PollingThenUpgrade,
        }
    }
}

/// A socket connected to its namespace.
#[derive(Debug)]
pub(crate) struct Connected {
    pub(crate) manager: Manager,
    pub(crate) socket: Socket,
}

/// Connects as `args` say; `setup` registers handlers before the CONNECT goes out. Without
/// `reconnect`, a lost connection is not re-established.
///
/// # Errors
///
/// One line: an invalid flag, a connection failure (with its cause), the server's refusal
/// (with its message and data), or no connection within `--connect-timeout`.
pub(crate) async fn connect(
    args: &ConnectArgs,
    reconnect: bool,
    setup: impl FnOnce(SocketBuilder) -> SocketBuilder,
) -> Result<Connected, String> {
    let auth = match &args.auth {
        Some(text) => {
            let value: Value =
                serde_json::from_str(text).map_err(|e| format!("--auth is not JSON: {e}"))?;
            if !value.is_object() {
                return Err("--auth must be a JSON object".into());
            }
            Some(value)
        }
        None => None,
    };
    let wait = Duration::from_millis(args.connect_timeout);
    let manager = Manager::builder(&args.url)
        .transports(args.transport.into())
        .reconnection(reconnect)
        .timeout(wait)
        .build()
        .map_err(|e| format!("{}: {e}", args.url))?;
    let builder = match &args.namespace {
        Some(ns) => manager.socket(ns),
        None => manager.url_socket(),
    };
    let builder = match &auth {
        Some(auth) => builder.auth(auth),
        None => builder,
    };
    // A failed connection attempt ends the command at once, with its cause; reconnection
    // (`sio listen`) is for connections lost later.
    let (failed_tx, mut failed) = tokio::sync::mpsc::channel::<String>(1);
    let builder = builder.on_connect_error(move |_, e: ConnectError| {
        if let Some(cause) = &e.cause {
            let _ = failed_tx.try_send(cause.to_string());
        }
    });
    let socket = setup(builder).connect();
    let ns = socket.ns().to_owned();
    let failure = tokio::select! {
        connected = tokio::time::timeout(wait, socket.wait_connected()) => match connected {
            Ok(Ok(())) => return Ok(Connected { manager, socket }),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectRefused => {
                let refusal = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<ConnectError>())
                    .map_or_else(
                        || e.to_string(),
                        |c| match &c.data {
                            Some(data) => format!("{} {data}", c.message),
                            None => c.message.clone(),
                        },
                    );
                format!("the server refused namespace {ns}: {refusal}")
            }
            Ok(Err(e)) => {
                // The cause of the failed attempt, else what the client says.
                let cause = std::error::Error::source(&e)
                    .map_or_else(|| e.to_string(), ToString::to_string);
                format!("cannot connect to {}: {cause}", args.url)
            }
            Err(_) => format!(
                "cannot connect to {}: not connected within {} ms",
                args.url, args.connect_timeout
            ),
        },
        Some(cause) = failed.recv() => format!("cannot connect to {}: {cause}", args.url),
    };
    manager.close();
    Err(failure)
}

/// An argument to send: JSON in which `{"$binary":"BASE64"}` is binary data (a
/// [`Binary`], sent as an attachment).
#[derive(Debug)]
pub(crate) enum Data {
    /// `null`, a boolean, a number or a string.
    Scalar(Value),
    Array(Vec<Self>),
    Object(Vec<(String, Self)>),
    Binary(Binary),
}

impl Data {
    /// Converts parsed JSON, decoding `{"$binary":"BASE64"}` objects.
    ///
    /// # Errors
    ///
    /// A `$binary` value that is not a base64 string.
    pub(crate) fn from_json(value: Value) -> Result<Self, String> {
        Ok(match value {
            Value::Array(items) => Self::Array(
                items
                    .into_iter()
                    .map(Self::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                if map.len() == 1
                    && let Some(b64) = map.get(BINARY_KEY)
                {
                    let text = b64
                        .as_str()
                        .ok_or_else(|| format!("{BINARY_KEY} must be a base64 string"))?;
                    let bytes = base64_simd::STANDARD
                        .decode_to_vec(text)
                        .map_err(|e| format!("{BINARY_KEY} is not base64: {e}"))?;
                    return Ok(Self::Binary(Binary::from(bytes)));
                }
                Self::Object(
                    map.into_iter()
                        .map(|(k, v)| Ok((k, Self::from_json(v)?)))
                        .collect::<Result<_, String>>()?,
                )
            }
            scalar => Self::Scalar(scalar),
        })
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Scalar(v) => v.serialize(s),
            Self::Binary(b) => b.serialize(s),
            Self::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Parses the command line's `ARGS_JSON` values.
///
/// # Errors
///
/// Which argument is not JSON, and why.
pub(crate) fn parse_args(args: &[String]) -> Result<Vec<Data>, String> {
    args.iter()
        .enumerate()
        .map(|(i, text)| {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| format!("argument {} is not JSON ({text}): {e}", i + 1))?;
            Data::from_json(value).map_err(|e| format!("argument {}: {e}", i + 1))
        })
        .collect()
}

/// An event as one line of compact JSON: `{"event":NAME,"args":[...]}`, each binary
/// attachment in place of its placeholder as `{"$binary":"BASE64"}`.
pub(crate) fn event_line(name: &str, payload: &Payload) -> String {
    let mut args = json_args(payload);
    if !args.is_empty() {
        // The event name.
        args.remove(0);
    }
    /// `event` first, then `args`.
    #[derive(Serialize)]
    struct Line<'a> {
        event: &'a str,
        args: Vec<Value>,
    }
    serde_json::to_string(&Line { event: name, args }).unwrap_or_default()
}

/// An acknowledgement's arguments (a raw reply: the JSON array and its attachments) as one
/// line of compact JSON, each binary attachment as `{"$binary":"BASE64"}`.
pub(crate) fn ack_line(payload: &Payload) -> String {
    Value::Array(json_args(payload)).to_string()
}

/// The elements of a payload's JSON array, placeholders replaced by `{"$binary":BASE64}`.
fn json_args(payload: &Payload) -> Vec<Value> {
    let mut args = match serde_json::from_str::<Value>(payload.json()) {
        Ok(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    for arg in &mut args {
        resolve_placeholders(arg, payload.attachments());
    }
    args
}

/// Replaces `{"_placeholder":true,"num":N}` with `{"$binary":BASE64}` of attachment N.
fn resolve_placeholders(value: &mut Value, attachments: &[bytes::Bytes]) {
    match value {
        Value::Array(items) => {
            for item in items {
                resolve_placeholders(item, attachments);
            }
        }
        Value::Object(map) => {
            let attachment = (map.len() == 2
                && map.get("_placeholder") == Some(&Value::Bool(true)))
            .then(|| map.get("num").and_then(Value::as_u64))
            .flatten()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| attachments.get(n));
            if let Some(bytes) = attachment {
                let mut binary = Map::new();
                binary.insert(
                    BINARY_KEY.into(),
                    Value::String(base64_simd::STANDARD.encode_to_string(bytes)),
                );
                *map = binary;
            } else {
                for v in map.values_mut() {
                    resolve_placeholders(v, attachments);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn binary_markers_become_attachments_and_back() {
        let args = parse_args(&[
            r#""text""#.into(),
            r#"{"file":{"$binary":"AQID"},"n":[1,{"$binary":""}]}"#.into(),
        ])
        .unwrap();
        let packet =
            socketio_proto::Packet::event(socketio_proto::Namespace::main(), "up", &args, None)
                .unwrap();
        let payload = packet.payload().unwrap();
        assert_eq!(
            payload.json(),
            r#"["up","text",{"file":{"_placeholder":true,"num":0},"n":[1,{"_placeholder":true,"num":1}]}]"#
        );
        assert_eq!(&payload.attachments()[0][..], [1, 2, 3]);
        assert!(payload.attachments()[1].is_empty());
        assert_eq!(
            event_line("up", payload),
            r#"{"event":"up","args":["text",{"file":{"$binary":"AQID"},"n":[1,{"$binary":""}]}]}"#
        );
        // An ack's arguments are the whole array.
        let (json, attachments) = payload.clone().into_parts();
        let ack = Payload::new(
            json.as_str().replacen(r#""up","#, "", 1).into(),
            attachments,
        );
        assert_eq!(
            ack_line(&ack),
            r#"["text",{"file":{"$binary":"AQID"},"n":[1,{"$binary":""}]}]"#
        );
    }

    #[test]
    fn bad_arguments_are_named() {
        assert_eq!(
            parse_args(&["1".into(), "{oops".into()]).unwrap_err(),
            "argument 2 is not JSON ({oops): key must be a string at line 1 column 2"
        );
        assert!(
            parse_args(&[r#"{"$binary":"@@"}"#.into()])
                .unwrap_err()
                .starts_with("argument 1: $binary is not base64")
        );
    }
}
