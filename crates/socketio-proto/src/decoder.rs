//! The decoder: Engine.IO messages in, Socket.IO packets out.

use bytes::Bytes;
use engineio_proto::Utf8Bytes;

use crate::attachments::Attachments;
use crate::error::DecodeError;
use crate::namespace::{AckId, Namespace, check_namespace};
use crate::packet::{Packet, PacketType, Payload};
use crate::packet_buf::PacketBuf;
use crate::validate::{is_reserved_event, validate};

/// A placeholder as encoders write it, up to its index: `{"_placeholder":true,"num":N}`.
pub(crate) const PLACEHOLDER_HEAD: &[u8] = br#"{"_placeholder":true,"num":"#;

/// Bounds on what one packet may make the [`Decoder`] hold.
///
/// ```
/// use socketio_proto::DecodeLimits;
///
/// assert_eq!(DecodeLimits::default().max_attachments, 10);
/// let limits = DecodeLimits::default().with_max_attachments(64);
/// assert_eq!(limits.max_attachments, 64);
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Most attachments a binary packet may declare (the reference's `maxAttachments`, default
    /// 10). A header declaring more is rejected before anything is buffered.
    pub max_attachments: usize,
    /// Most bytes of one packet: its text plus all its attachments (default 10 MiB, room for
    /// ten attachments of the default 1 MB Engine.IO `maxPayload`).
    pub max_packet_bytes: usize,
    /// Longest namespace name in bytes (default 256; never more than
    /// [`Namespace::MAX_LEN`]).
    pub max_namespace_len: usize,
}

impl DecodeLimits {
    /// Sets [`max_attachments`](Self::max_attachments).
    #[must_use]
    pub const fn with_max_attachments(mut self, max: usize) -> Self {
        self.max_attachments = max;
        self
    }

    /// Sets [`max_packet_bytes`](Self::max_packet_bytes).
    #[must_use]
    pub const fn with_max_packet_bytes(mut self, max: usize) -> Self {
        self.max_packet_bytes = max;
        self
    }

    /// Sets [`max_namespace_len`](Self::max_namespace_len).
    #[must_use]
    pub const fn with_max_namespace_len(mut self, max: usize) -> Self {
        self.max_namespace_len = max;
        self
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_attachments: 10,
            max_packet_bytes: 10 * 1024 * 1024,
            max_namespace_len: 256,
        }
    }
}

/// Turns the messages of one Engine.IO connection into Socket.IO packets.
///
/// There is one decoder per Engine.IO connection, shared by all namespaces, because a binary
/// packet's text and its attachments arrive as consecutive messages. Feed every Engine.IO
/// message in order: text with [`decode_text`](Self::decode_text) (without the Engine.IO `4`),
/// binary with [`decode_binary`](Self::decode_binary). Each returns `Ok(Some(packet))` for a
/// complete packet, or `Ok(None)` while a binary packet is waiting for
/// [`awaiting_attachments`](Self::awaiting_attachments) more binary messages.
///
/// Any error means the peer broke the protocol and the connection should be closed; the
/// decoder has reset itself by then, and holds nothing. A runtime that bounds the time a
/// partial packet may wait calls [`reset`](Self::reset) when that time runs out.
///
/// By default every packet is checked in full before it is returned, as the reference parser
/// does. A consumer that deserialises the arguments it receives can
/// [`defer_json_check`](Self::defer_json_check) instead and have the JSON checked once, while
/// it is deserialised.
///
/// ```
/// use bytes::Bytes;
/// use socketio_proto::{DecodeLimits, Decoder, Packet};
///
/// let mut decoder = Decoder::new(DecodeLimits::default());
/// let header = r#"51-["upload",{"_placeholder":true,"num":0}]"#;
/// assert_eq!(decoder.decode_text(header.into()), Ok(None));
/// assert_eq!(decoder.awaiting_attachments(), 1);
/// let packet = decoder.decode_binary(Bytes::from_static(b"\x01\x02\x03")).unwrap().unwrap();
/// let Packet::Event { data, .. } = &packet else { unreachable!() };
/// assert_eq!(data.attachments(), [Bytes::from_static(b"\x01\x02\x03")]);
/// assert_eq!(packet.event_name().as_deref(), Some("upload"));
/// ```
#[derive(Debug, Default)]
pub struct Decoder {
    limits: DecodeLimits,
    pending: Option<Pending>,
    /// Leave the full JSON check of packets without attachments to their consumer.
    defer_json: bool,
    /// The last short namespace accepted: a client mostly talks on one.
    memo: NsMemo,
}

/// A namespace this decoder accepted, with the `,` after it, 16 bytes at most: a header that
/// starts with the same bytes names a namespace already known to pass the checks, and is read
/// without the byte scan (one masked 16-byte compare instead). The empty memo (a zero byte
/// where a text has its `/`) matches nothing. Bytes, not a `u128`, to keep the decoder small
/// (no 16-byte alignment).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NsMemo {
    /// The name and its `,`, then zeros.
    word: [u8; 16],
    /// 0xff for each byte of the name and its `,`, then zeros.
    mask: [u8; 16],
    /// The name's length with its `,`: 2 to 16, or 0.
    len: u8,
}

impl Default for NsMemo {
    fn default() -> Self {
        Self {
            word: [0; 16],
            mask: [0xff; 16],
            len: 0,
        }
    }
}

impl NsMemo {
    /// The 16 bytes of `b` from `at`, when there are as many.
    #[inline(always)]
    fn window(b: &[u8], at: usize) -> Option<u128> {
        b.get(at..)
            .and_then(<[u8]>::first_chunk::<16>)
            .map(|w| u128::from_le_bytes(*w))
    }

    /// The mask of the first `len` bytes of a window (`len` at most 16).
    #[inline(always)]
    fn mask(len: u8) -> u128 {
        u128::MAX
            .checked_shr(8 * (16 - u32::from(len)))
            .unwrap_or(0)
    }

    /// The length of the memo's name and `,` when `b` holds them at `at`.
    #[inline(always)]
    fn hit(&self, b: &[u8], at: usize) -> Option<usize> {
        let w = Self::window(b, at)?;
        let differ = (w ^ u128::from_le_bytes(self.word)) & u128::from_le_bytes(self.mask);
        (differ == 0).then_some(usize::from(self.len))
    }

    /// Remembers the name at `at..end` of `b` (with the `,` at `end`) when it fits.
    #[inline(always)]
    fn keep(&mut self, b: &[u8], at: usize, end: usize) {
        let len = end + 1 - at;
        if let Ok(len) = u8::try_from(len)
            && len <= 16
            && let Some(w) = Self::window(b, at)
        {
            let mask = Self::mask(len);
            *self = Self {
                word: (w & mask).to_le_bytes(),
                mask: mask.to_le_bytes(),
                len,
            };
        }
    }
}

/// A binary packet whose attachments are still arriving.
#[derive(Debug)]
struct Pending {
    /// The packet so far: its text and header, the attachments received.
    packet: PacketBuf,
    /// The declared attachment count.
    expected: usize,
    /// The text's and the attachments' bytes so far.
    bytes: usize,
}

/// The decoded header fields, borrowing nothing: the namespace is a range of the text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub(crate) ty: PacketType,
    /// The declared attachment count (0 for types other than `5` and `6`).
    pub(crate) attachments: usize,
    /// Start and end of the namespace in the text; equal when the header names none (the
    /// main namespace `/`).
    pub(crate) ns: (usize, usize),
    pub(crate) ack: Option<AckId>,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    #[must_use]
    pub fn new(limits: DecodeLimits) -> Self {
        Self {
            limits,
            pending: None,
            defer_json: false,
            memo: NsMemo::default(),
        }
    }

    /// Leaves the full JSON check of packets without attachments to whoever reads them, so
    /// that the JSON is parsed once instead of twice (checked, then deserialised).
    ///
    /// [`decode_text`](Self::decode_text) then checks the header and the shape facts it can
    /// read from the first bytes of the JSON: a CONNECT payload starts with `{`, a
    /// CONNECT_ERROR with `{` or `"`, an ACK with `[`, and an EVENT with `[` followed by an
    /// event name that is a number or a string that is not reserved. Whether the rest is
    /// well-formed JSON is left to the consumer: [`Payload::event_args`],
    /// [`Payload::ack_args`] and [`Payload::deserialize`] fail on malformed JSON (their `Ok`
    /// means the packet would have passed the full check), and [`Packet::validate`] runs the
    /// full check on its own. A consumer must call [`Packet::validate`] before it passes the
    /// raw JSON on (forwarding, re-emitting, storing) and wherever malformed JSON must close
    /// the connection, as in the reference server. Every packet the default decoder refuses
    /// is refused by one of these, with the same [`DecodeError`].
    ///
    /// Binary packets (`5`, `6`) are checked in full at once unless their placeholders can be
    /// accounted for from the text alone (no escapes in the JSON, every placeholder written
    /// exactly as `{"_placeholder":true,"num":N}`, one per attachment, as every encoder writes
    /// them): a packet with misplaced or missing placeholders never waits for attachments.
    ///
    /// ```
    /// use socketio_proto::{DecodeError, DecodeLimits, Decoder};
    ///
    /// let mut decoder = Decoder::new(DecodeLimits::default()).defer_json_check(true);
    /// // The name is read at once; the rest is malformed, which the reader finds out.
    /// let packet = decoder.decode_text(r#"2["chat",{"a":]"#.into()).unwrap().unwrap();
    /// assert_eq!(packet.event_name().as_deref(), Some("chat"));
    /// # #[cfg(feature = "serde")]
    /// assert!(packet.payload().unwrap().event_args::<(serde_json::Value,)>().is_err());
    /// assert!(matches!(packet.validate(), Err(DecodeError::InvalidJson(_))));
    /// // Shape errors visible in the first bytes are still found at once.
    /// assert_eq!(
    ///     decoder.decode_text(r#"2["connect"]"#.into()),
    ///     Err(DecodeError::ReservedEventName("connect".into()))
    /// );
    /// ```
    #[must_use]
    pub const fn defer_json_check(mut self, defer: bool) -> Self {
        self.defer_json = defer;
        self
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// How many binary messages the packet being reconstructed still needs (0 when idle).
    #[must_use]
    pub fn awaiting_attachments(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(0, |p| p.expected - p.packet.attachments().len())
    }

    /// Drops a partially received packet, freeing its attachments.
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Decodes the Socket.IO text of an Engine.IO message (the `4` already stripped) into a
    /// [`Packet`]: the same packet as [`read_text`](Self::read_text) followed by
    /// [`PacketBuf::into_packet`].
    ///
    /// Returns `Ok(None)` when the text is the header of a binary packet whose attachments are
    /// still to come.
    ///
    /// # Errors
    ///
    /// Returns a [`DecodeError`] when the text breaks the grammar, the limits or the payload
    /// rules, or when a binary packet was still waiting for attachments
    /// ([`DecodeError::UnexpectedText`]). The decoder is idle afterwards.
    pub fn decode_text(&mut self, text: Utf8Bytes) -> Result<Option<Packet>, DecodeError> {
        // Built from the header at once, without a `PacketBuf` in between (through one, 15 to
        // 20 instructions more a text packet: it is moved before the `Packet` is built).
        let complete = |text, head: &Head, json_at, args_at| (text, *head, json_at, args_at);
        let Some((text, head, json_at, args_at)) = self.text_with(text, complete)? else {
            return Ok(None);
        };
        let ns = match head.ns {
            (start, end) if start < end => Namespace::checked(&text, start..end),
            _ => Namespace::main(),
        };
        Ok(Some(build(
            head.ty,
            ns,
            head.ack,
            (text, json_at),
            args_at,
            Attachments::new(),
        )))
    }

    /// Decodes a binary Engine.IO message, the next attachment of the pending binary packet,
    /// into a [`Packet`]: the same packet as [`read_binary`](Self::read_binary) followed by
    /// [`PacketBuf::into_packet`].
    ///
    /// Returns the packet once its last attachment has arrived, `Ok(None)` before.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnexpectedBinary`] when no binary packet is waiting, and
    /// [`DecodeError::PacketTooLarge`] when the attachments exceed the byte limit; the
    /// decoder is idle afterwards.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        self.binary_with(data, PacketBuf::take_packet)
    }

    /// [`decode_text`](Self::decode_text) without building the [`Packet`]: the packet as
    /// received, its header read in place (see [`PacketBuf`]). Accepts and refuses exactly
    /// what `decode_text` does, with the same errors and the same state afterwards.
    ///
    /// # Errors
    ///
    /// As [`decode_text`](Self::decode_text).
    pub fn read_text(&mut self, text: Utf8Bytes) -> Result<Option<PacketBuf>, DecodeError> {
        self.text_with(text, |text, head, json_at, args_at| {
            PacketBuf::new(text, head, json_at, args_at)
        })
    }

    /// Reads `text` as [`read_text`](Self::read_text) does, and makes what it returns for a
    /// complete packet with `complete` (from the text, the header, where the JSON starts and
    /// where the arguments start).
    #[inline(always)]
    fn text_with<R>(
        &mut self,
        text: Utf8Bytes,
        complete: impl FnOnce(Utf8Bytes, &Head, usize, usize) -> R,
    ) -> Result<Option<R>, DecodeError> {
        if self.pending.is_some() {
            self.pending = None;
            return Err(DecodeError::UnexpectedText);
        }
        let (head, start) = check_text_with(&text, &self.limits, Some(&mut self.memo))?;
        // The header is ASCII, so `start` is a char boundary. The packet keeps the whole
        // text and where its JSON starts: no slice of it is taken.
        let json = text.get(start..).unwrap_or_default();
        let args_at = check_payload::<true>(&head, json, self.defer_json)?;
        if head.attachments == 0 {
            // `50-[...]` is complete at once, and nothing is left waiting (CVE-2026-69185).
            return Ok(Some(complete(text, &head, start, args_at)));
        }
        let bytes = text.len();
        let mut packet = PacketBuf::new(text, &head, start, args_at);
        *packet.attachments_mut() = Attachments::with_capacity(head.attachments);
        self.pending = Some(Pending {
            packet,
            expected: head.attachments,
            bytes,
        });
        Ok(None)
    }

    /// [`decode_binary`](Self::decode_binary) without building the [`Packet`] (see
    /// [`read_text`](Self::read_text)).
    ///
    /// # Errors
    ///
    /// As [`decode_binary`](Self::decode_binary).
    pub fn read_binary(&mut self, data: Bytes) -> Result<Option<PacketBuf>, DecodeError> {
        self.binary_with(data, |p| std::mem::replace(p, PacketBuf::taken()))
    }

    /// Takes `data` as [`read_binary`](Self::read_binary) does, and makes what it returns for
    /// the completed packet with `complete`, which takes what it needs out of the pending
    /// packet (what it leaves is dropped).
    #[inline(always)]
    fn binary_with<R>(
        &mut self,
        data: Bytes,
        complete: impl FnOnce(&mut PacketBuf) -> R,
    ) -> Result<Option<R>, DecodeError> {
        let Some(pending) = self.pending.as_mut() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        pending.bytes = pending.bytes.saturating_add(data.len());
        if pending.bytes > self.limits.max_packet_bytes {
            self.pending = None;
            return Err(DecodeError::PacketTooLarge {
                max: self.limits.max_packet_bytes,
            });
        }
        let attachments = pending.packet.attachments_mut();
        attachments.push(data);
        if attachments.len() < pending.expected {
            return Ok(None);
        }
        // Taken out field by field: moving the whole pending packet out of the `Option` and
        // then into the result copies it twice.
        let done = complete(&mut pending.packet);
        self.pending = None;
        Ok(Some(done))
    }
}

#[inline(always)]
pub(crate) fn build(
    ty: PacketType,
    ns: Namespace,
    ack: Option<AckId>,
    (text, json_at): (Utf8Bytes, usize),
    args_at: usize,
    attachments: Attachments,
) -> Packet {
    // The payload is built in the arm that uses it: built before the match, it is written to
    // the stack and copied into the packet from there (4 to 15 instructions a text packet).
    let has_json = json_at < text.len();
    let data = move || Payload::with_args_at(text, json_at, attachments, args_at);
    match ty {
        PacketType::Connect => Packet::Connect {
            ns,
            auth: if has_json { Some(data()) } else { None },
        },
        PacketType::Disconnect => Packet::Disconnect { ns },
        PacketType::Event | PacketType::BinaryEvent => Packet::Event {
            ns,
            data: data(),
            ack,
        },
        PacketType::ConnectError => Packet::ConnectError { ns, data: data() },
        // Checked by the caller: an ACK always has an id.
        PacketType::Ack | PacketType::BinaryAck => Packet::Ack {
            ns,
            data: data(),
            id: ack.unwrap_or(AckId(0)),
        },
    }
}

/// Checks the size and the header of a Socket.IO text (the Engine.IO `4` stripped), as
/// [`Decoder::decode_text`] does, and returns the header with the offset of the JSON
/// (a char boundary). [`check_payload`] checks the rest. Allocates nothing.
#[inline(always)]
pub(crate) fn check_text(text: &str, limits: &DecodeLimits) -> Result<(Head, usize), DecodeError> {
    check_text_with(text, limits, None)
}

/// [`check_text`] with a decoder's namespace memo.
#[inline(always)]
fn check_text_with(
    text: &str,
    limits: &DecodeLimits,
    memo: Option<&mut NsMemo>,
) -> Result<(Head, usize), DecodeError> {
    if text.len() > limits.max_packet_bytes {
        return Err(DecodeError::PacketTooLarge {
            max: limits.max_packet_bytes,
        });
    }
    parse_header(text, limits, memo)
}

/// Checks the JSON of a packet with header `head` as [`Decoder::decode_text`] does: the
/// rules tying the payload and the ack id to the packet type, and the JSON (in full, or
/// only its start when `defer` and the start says enough). With `ARGS`, returns where the
/// arguments of an EVENT start when the start was read and the event name is a plain string
/// (no escape, no control character): the offset right after its closing quote; 0 otherwise
/// (and always without `ARGS`, which saves a caller that does not use it the look for
/// control characters).
#[inline(always)]
pub(crate) fn check_payload<const ARGS: bool>(
    head: &Head,
    json: &str,
    defer: bool,
) -> Result<usize, DecodeError> {
    match head.ty {
        PacketType::Disconnect if !json.is_empty() => {
            return Err(DecodeError::InvalidPayload(head.ty));
        }
        PacketType::Ack | PacketType::BinaryAck if head.ack.is_none() => {
            return Err(DecodeError::MissingAckId);
        }
        PacketType::Connect | PacketType::Disconnect | PacketType::ConnectError
            if head.ack.is_some() =>
        {
            return Err(DecodeError::UnexpectedAckId(head.ty));
        }
        _ => {}
    }
    if !json.is_empty() {
        let shape = if defer {
            shape_at_start::<ARGS>(head.ty, json)
        } else {
            None
        };
        let deferred = shape.is_some()
            && (!head.ty.is_binary() || placeholders_at_sight(json, head.attachments));
        if !deferred {
            validate(head.ty, json, head.attachments)?;
        }
        return Ok(shape.unwrap_or(0));
    } else if head.attachments > 0 {
        return Err(DecodeError::UnreferencedAttachment(0));
    }
    Ok(0)
}

/// Whether the first bytes of `json` (non-empty) show the shape `ty` requires, so that the
/// payload is valid if it is well-formed JSON: `Some` then, with the offset right after the
/// event name of an EVENT whose name is a plain string (see [`event_name_allowed`]), or 0.
///
/// A `None` is not a verdict: the caller then runs the full check, which finds the precise
/// error (or accepts a spelling this fast path does not know).
#[inline(always)]
fn shape_at_start<const ARGS: bool>(ty: PacketType, json: &str) -> Option<usize> {
    let b = json.as_bytes();
    let i = skip_ws(b, 0);
    match (ty, b.get(i)) {
        (PacketType::Connect, Some(b'{'))
        | (PacketType::ConnectError, Some(b'{' | b'"'))
        | (PacketType::Ack | PacketType::BinaryAck, Some(b'[')) => Some(0),
        // Whitespace is ASCII, so `i + 1` and the next non-space are char boundaries.
        (PacketType::Event | PacketType::BinaryEvent, Some(b'[')) => {
            let at = skip_ws(b, i + 1);
            let end = event_name_allowed::<ARGS>(json.get(at..)?)?;
            Some(if ARGS && end > 0 { at + end } else { 0 })
        }
        _ => None,
    }
}

/// Whether the placeholders of a binary packet can be accounted for from the text alone, and
/// are right: the JSON has no escapes, every `_placeholder` in it starts a placeholder written
/// exactly as `{"_placeholder":true,"num":N}`, and the `N`s are the indexes `0..attachments`,
/// each once.
///
/// Without escapes, a key `_placeholder` is spelled as such, so the full check would find
/// exactly these objects, provided the JSON is well-formed: a `{"` can only start an object
/// there (inside a string, the quote would end the string, and `_placeholder` after a string
/// is malformed). Well-formedness is left to the reader, as for other packets. A `false` sends
/// the packet to the full check, which finds the precise error or accepts a spelling this
/// does not know (whitespace, another key order, escapes).
fn placeholders_at_sight(json: &str, attachments: usize) -> bool {
    let b = json.as_bytes();
    // `50-`/`60-` (no attachments) are rare: the full check.
    if attachments == 0 || attachments > 64 {
        return false;
    }
    // The full check refuses nesting deeper than serde_json's recursion limit (128 levels,
    // the packet's array included); a reader that skips or reads the arguments one by one
    // may not. Well-formed JSON that deep has at least 256 bytes and 127 opening brackets.
    if b.len() >= 2 * DEEP && memchr::memchr2_iter(b'[', b'{', b).nth(DEEP - 1).is_some() {
        return false;
    }
    let mut places = Placeholders {
        b,
        attachments,
        seen: 0,
        found: 0,
    };
    // A number the full check parses and might find out of range (an exponent, or more than
    // 300 digits), which a reader that skips the value would not notice, sends the packet to
    // the full check, as does an escape.
    if b.len() <= SHORT_SCAN {
        if !short_scan(&mut places) {
            return false;
        }
    } else {
        if memchr::memchr(b'\\', b).is_some() || !numbers_in_range(b) {
            return false;
        }
        // `_` is rare in JSON, so looking for it first is cheaper than a substring searcher
        // that is built per call.
        if !memchr::memchr_iter(b'_', b).all(|at| places.key_at(at)) {
            return false;
        }
    }
    places.found == attachments
}

/// Opening brackets from which a text may nest as deep as serde_json's recursion limit.
const DEEP: usize = 127;

/// Texts up to this length are scanned in one pass of a plain loop (no longer than the
/// digit run [`numbers_in_range`] refuses).
const SHORT_SCAN: usize = 300;

/// The placeholders found so far by [`placeholders_at_sight`].
struct Placeholders<'a> {
    b: &'a [u8],
    attachments: usize,
    /// Bit `n` is set once placeholder `n` was found.
    seen: u64,
    found: usize,
}

/// [`placeholders_at_sight`] on a short text: one pass, eight bytes at a time as one word,
/// memchr's set-up costing more than it saves there (and a run of more than 300 digits does
/// not fit). A word is looked into only when it holds a `\`, a `_` or an `e`/`E`; an exact
/// placeholder is stepped over whole.
///
/// The byte tests flag every byte they look for, and may flag a few more above one (a borrow
/// crossing a byte): what is flagged is then looked at exactly, or at worst sends a packet
/// that is fine to the full check, never the other way round.
fn short_scan(places: &mut Placeholders<'_>) -> bool {
    let b = places.b;
    let mut at = 0;
    // Past the end, `get` says `None`: the scan is over.
    while let Some(rest) = b.get(at..).filter(|r| !r.is_empty()) {
        let w = word_at(rest);
        let escapes = zero_bytes(w ^ (ONES * u64::from(b'\\')));
        let keys = zero_bytes(w ^ (ONES * u64::from(b'_')));
        // `E` is `e` with bit 5 clear, and no other byte turns into `e` with it set.
        let exps = zero_bytes((w | (ONES * 0x20)) ^ (ONES * u64::from(b'e')));
        if escapes | keys | exps == 0 {
            at += 8;
            continue;
        }
        // The lowest flagged byte is always one looked for.
        if escapes != 0 {
            return false;
        }
        match places.look_into(w, at, keys, exps) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

/// The eight bytes at the start of `rest` as a little-endian word, zero bytes past its end
/// (a zero byte is none of the bytes [`short_scan`] looks for).
#[inline(always)]
fn word_at(rest: &[u8]) -> u64 {
    if let Some(first) = rest.first_chunk::<8>() {
        return u64::from_le_bytes(*first);
    }
    // The last few bytes of the text (a byte loop: a copy of a length not known here would
    // be a call).
    rest.iter().rev().fold(0, |w, &c| (w << 8) | u64::from(c))
}

/// The high bit of each zero byte of `x`, and possibly of bytes above one.
#[inline(always)]
const fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & !LOW7
}

/// Whether one of the `e`/`E` bytes flagged in `exps` (a [`zero_bytes`] mask of `w`) follows a
/// digit or `.`: the byte before it in `w`, or `prev` for the first byte.
#[inline(always)]
fn exponent_in(w: u64, exps: u64, prev: Option<&u8>) -> bool {
    let digits = (w ^ (ONES * u64::from(b'0'))).wrapping_sub(ONES * 10)
        & !(w ^ (ONES * u64::from(b'0')))
        & !LOW7;
    let numbers = digits | zero_bytes(w ^ (ONES * u64::from(b'.')));
    let first = prev.is_some_and(|&c| c.is_ascii_digit() || c == b'.');
    exps & ((numbers << 8) | (u64::from(first) << 7)) != 0
}

impl Placeholders<'_> {
    /// Looks into the word `w` at `at` (no escape in it), whose `_` bytes and `e`/`E` bytes are
    /// flagged in `keys` and `exps`: `None` for an exponent (before the first `_`) or a
    /// `_placeholder` key that is not an exact placeholder; otherwise where the scan goes on
    /// (past the word, past the `_`, or past a placeholder, which is counted).
    fn look_into(&mut self, w: u64, at: usize, keys: u64, mut exps: u64) -> Option<usize> {
        // The bytes before the first `_`, or the whole word.
        let before = if keys == 0 {
            8
        } else {
            (keys.trailing_zeros() / 8) as usize
        };
        if before < 8 {
            exps &= (1u64 << (8 * before)) - 1;
        }
        if exps != 0 && exponent_in(w, exps, at.checked_sub(1).and_then(|p| self.b.get(p))) {
            return None;
        }
        if before == 8 {
            return Some(at + 8);
        }
        // A `_` at `at + before`: a placeholder to count and step over, or a plain byte.
        let key = at + before;
        Some(self.placeholder_at(key)?.unwrap_or(key + 1))
    }

    /// Looks at the `_` at `at`: `Some(None)` when it does not start the key `_placeholder`;
    /// `Some(Some(end))` when it starts a placeholder written exactly as
    /// `{"_placeholder":true,"num":N}` with an `N` not seen before and below the attachment
    /// count (which is then counted), `end` being where the placeholder ends; `None`
    /// otherwise.
    fn placeholder_at(&mut self, at: usize) -> Option<Option<usize>> {
        const KEY: &[u8] = b"_placeholder";
        let b = self.b;
        // The usual case first: the head of an exact placeholder, the key two bytes in.
        let head = at
            .checked_sub(2)
            .and_then(|start| Some((start, b.get(start..)?.strip_prefix(PLACEHOLDER_HEAD)?)));
        let Some((start, digits)) = head else {
            return if b.get(at..).is_some_and(|r| r.starts_with(KEY)) {
                None
            } else {
                Some(None)
            };
        };
        let len = digits.iter().take_while(|c| c.is_ascii_digit()).count();
        let index = match (digits.get(..len), digits.get(len)) {
            (Some(b"0"), Some(b'}')) => 0,
            (Some(d), Some(b'}')) if d.first().is_some_and(|&c| c != b'0') && len <= 2 => d
                .iter()
                .fold(0usize, |n, &c| n * 10 + usize::from(c - b'0')),
            _ => return None,
        };
        if index >= self.attachments || self.seen & (1 << index) != 0 {
            return None;
        }
        self.seen |= 1 << index;
        self.found += 1;
        Some(Some(start + PLACEHOLDER_HEAD.len() + len + 1))
    }

    /// Looks at the `_` at `at` as [`placeholder_at`](Self::placeholder_at) does: `false`
    /// when it starts a `_placeholder` key that is not an exact placeholder, `true` otherwise.
    fn key_at(&mut self, at: usize) -> bool {
        self.placeholder_at(at).is_some()
    }
}

/// Whether no number in `b` can be out of `f64` range: no exponent (a digit or `.` followed
/// by `e`/`E`) and no run of more than 300 digits. Text inside strings counts too (so this
/// may say `false` for a packet that is fine, never `true` for one that is not).
fn numbers_in_range(b: &[u8]) -> bool {
    let exponent = memchr::memchr2_iter(b'e', b'E', b)
        .any(|i| i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.'));
    !exponent && (b.len() <= 300 || !b.split(|c| !c.is_ascii_digit()).any(|run| run.len() > 300))
}

/// Index of the first `"` or `\\` in `b` (with `controls`, also of the first byte below
/// 0x20): where a JSON string body ends or stops being plain. Eight bytes at a time, which
/// for a short event name is one step.
#[inline]
pub(crate) fn string_stop(b: &[u8], controls: bool) -> Option<usize> {
    // A short string (an event name, a key) ends in its first word: inline; the rest of a
    // longer one out of line.
    if let Some(first) = b.first_chunk::<8>() {
        let hits = stops(u64::from_le_bytes(*first), controls);
        if hits != 0 {
            return Some((hits.trailing_zeros() / 8) as usize);
        }
    }
    if controls {
        string_stop_after_first::<true>(b)
    } else {
        string_stop_after_first::<false>(b)
    }
}

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each byte of `word` that is `"`, `\` or (with `controls`) below 0x20:
/// exact, no carry or borrow crosses a byte.
#[inline(always)]
fn stops(word: u64, controls: bool) -> u64 {
    let eq = |c: u8| {
        let t = word ^ (ONES * u64::from(c));
        !((((t & LOW7) + LOW7) | t) | LOW7)
    };
    let hits = eq(b'"') | eq(b'\\');
    if controls {
        // Bytes with the high bit set are not below 0x20, and the sum of the low seven bits
        // does not carry out of its byte.
        hits | (!(((word & LOW7) + ONES * (0x80 - 0x20)) | word) & !LOW7)
    } else {
        hits
    }
}

/// Whether `word` holds a stop: exact as to whether, not as to where (a borrow out of a byte
/// that is a stop may mark the bytes above it), and cheaper than [`stops`].
#[inline(always)]
fn maybe_stop(word: u64, controls: bool) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let mut any = (quote.wrapping_sub(ONES) & !quote) | (backslash.wrapping_sub(ONES) & !backslash);
    if controls {
        any |= word.wrapping_sub(ONES * 0x20) & !word;
    }
    any & !LOW7
}

/// [`string_stop`] past a first word without a stop (or in a text shorter than a word).
#[inline(never)]
fn string_stop_after_first<const CONTROLS: bool>(b: &[u8]) -> Option<usize> {
    let controls = CONTROLS;
    let load = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    };
    let mut base = 0;
    if b.len() >= 8 {
        base = 8;
        // 32 bytes at a time, one branch for four words, up to the block that holds the stop.
        while let Some(block) = b.get(base..).and_then(<[u8]>::first_chunk::<32>) {
            let any = maybe_stop(load(&block[..8]), controls)
                | maybe_stop(load(&block[8..16]), controls)
                | maybe_stop(load(&block[16..24]), controls)
                | maybe_stop(load(&block[24..]), controls);
            if any != 0 {
                break;
            }
            base += 32;
        }
    }
    let rest = b.get(base..).unwrap_or_default();
    let mut chunks = rest.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let hits = stops(load(chunk), controls);
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || (controls && c < 0x20))
        .map(|p| base + p)
}

/// Index of the first byte at or after `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// Whether the JSON value at the start of `rest` is an event name the reference accepts (a
/// number, or a string that is not reserved), provided the JSON is well-formed: `Some` then,
/// with the length of the name's JSON when it is a plain string (no escape, no control
/// character: what the typed readers skip without a parse), or 0. Without `ARGS`, control
/// characters are not looked for, and the length is not to be used.
fn event_name_allowed<const ARGS: bool>(rest: &str) -> Option<usize> {
    let allowed = |name: &str| (!is_reserved_event(name)).then_some(());
    match rest.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => Some(0),
        // `strip_prefix` slices past the quote without a boundary test.
        Some(b'"') => {
            let body = rest.strip_prefix('"')?;
            let b = body.as_bytes();
            match string_stop(b, ARGS) {
                // `body[..end]` ends at an ASCII byte: a char boundary.
                Some(end) if b[end] == b'"' => {
                    allowed(body.get(..end)?)?;
                    Some(end + 2)
                }
                // A control character (only looked for with `ARGS`): the reader parses such
                // a name, as the full check does.
                Some(stop) if b[stop] != b'\\' => match string_stop(&b[stop..], false) {
                    Some(end) if b[stop + end] == b'"' => {
                        allowed(body.get(..stop + end)?).map(|()| 0)
                    }
                    Some(_) => name_with_escapes_allowed(rest),
                    None => None,
                },
                // An escape: decode the string (rare; a malformed one goes to the full check).
                Some(_) => name_with_escapes_allowed(rest),
                None => None,
            }
        }
        _ => None,
    }
}

/// [`event_name_allowed`] for a name string with an escape (0 when allowed).
fn name_with_escapes_allowed(rest: &str) -> Option<usize> {
    let mut de = serde_json::Deserializer::from_str(rest);
    <String as serde::Deserialize>::deserialize(&mut de)
        .is_ok_and(|name| !is_reserved_event(&name))
        .then_some(0)
}

/// Reads `<type>[<attachments>-][<namespace>,][<ack id>]` and returns the header with the
/// offset of the JSON.
#[inline(always)]
fn parse_header(
    text: &str,
    limits: &DecodeLimits,
    memo: Option<&mut NsMemo>,
) -> Result<(Head, usize), DecodeError> {
    let b = text.as_bytes();
    let &first = b.first().ok_or(DecodeError::Empty)?;
    let ty = PacketType::from_digit(first).ok_or(DecodeError::UnknownType(first))?;
    let mut i = 1;

    let mut attachments = 0usize;
    if ty.is_binary() {
        let digits = digits_at(b, i);
        if digits == 0 || b.get(i + digits) != Some(&b'-') {
            return Err(DecodeError::IllegalAttachments);
        }
        // Not `ok_or`: the error would be built and dropped on every call.
        let Some(n) = parse_u64(&b[i..i + digits])
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n <= limits.max_attachments)
        else {
            return Err(DecodeError::TooManyAttachments {
                max: limits.max_attachments,
            });
        };
        attachments = n;
        i += digits + 1;
    }

    let mut ns = (i, i);
    if b.get(i) == Some(&b'/') {
        // A name the memo holds (ending at its `,`) passed the scan under the same limits.
        let end = match memo.as_deref().and_then(|m| m.hit(b, i)) {
            Some(len) => i + len - 1,
            None => {
                let end = namespace_end(text, i, limits.max_namespace_len)?;
                if let Some(memo) = memo
                    && end < b.len()
                {
                    memo.keep(b, i, end);
                }
                end
            }
        };
        ns = (i, end);
        i = if end < b.len() { end + 1 } else { end };
    }

    let mut ack = None;
    let digits = digits_at(b, i);
    if digits > 0 {
        ack = Some(AckId(
            parse_u64(&b[i..i + digits]).ok_or(DecodeError::InvalidAckId)?,
        ));
        i += digits;
    }

    Ok((
        Head {
            ty,
            attachments,
            ns,
            ack,
        },
        i,
    ))
}

/// The bytes that end a namespace on the wire (`,`) or may not be in one (`#`, `?`, the
/// ASCII control characters).
const NAMESPACE_STOPS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[0x7f] = true;
    t[b',' as usize] = true;
    t[b'#' as usize] = true;
    t[b'?' as usize] = true;
    t
};

/// The end of the namespace that starts at `start` (a `/`): the `,` after it, or the end of
/// the text. One pass finds the end and any forbidden character at once: they are all ASCII,
/// and no byte of a multi-byte UTF-8 character is, so a byte test is a character test. On a
/// forbidden character or a name too long, the namespace check names the error.
#[inline(always)]
fn namespace_end(text: &str, start: usize, max: usize) -> Result<usize, DecodeError> {
    let b = text.as_bytes();
    let rest = b.get(start..).unwrap_or_default();
    let stop = start + stop_at(rest);
    if b.get(stop).is_none_or(|&c| c == b',') && stop - start <= max.min(Namespace::MAX_LEN) {
        return Ok(stop);
    }
    let end = rest
        .iter()
        .position(|&c| c == b',')
        .map_or(b.len(), |p| start + p);
    // `start` and `end` are at ASCII bytes or the end: char boundaries.
    check_namespace(text.get(start..end).unwrap_or_default(), max)?;
    Ok(end)
}

/// The index of the first byte of `b` in [`NAMESPACE_STOPS`], or `b.len()`: four bytes per
/// step (one branch for four table reads, which also say which byte stopped it), then byte by
/// byte in the last one to three.
#[inline(always)]
fn stop_at(b: &[u8]) -> usize {
    let is_stop = |c: u8| u32::from(NAMESPACE_STOPS[usize::from(c)]);
    let mut chunks = b.chunks_exact(4);
    let mut at = 0;
    for c in chunks.by_ref() {
        let m = is_stop(c[0]) | is_stop(c[1]) << 1 | is_stop(c[2]) << 2 | is_stop(c[3]) << 3;
        if m != 0 {
            return at + m.trailing_zeros() as usize;
        }
        at += 4;
    }
    let rest = chunks.remainder();
    at + rest
        .iter()
        .position(|&c| is_stop(c) != 0)
        .unwrap_or(rest.len())
}

/// Number of ASCII digits starting at `i`.
fn digits_at(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// Parses ASCII digits, `None` on overflow.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_u64_bounds() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"007"), Some(7));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
    }

    /// The four-at-a-time scan finds the first stop wherever it falls in or after a step,
    /// for every kind of stop, and the end when there is none.
    #[test]
    fn stop_at_finds_the_first_stop_at_every_offset() {
        for len in 0..14 {
            assert_eq!(stop_at(&vec![b'a'; len]), len);
            for at in 0..len {
                for stop in [b',', b'#', b'?', 0, 0x1f, 0x7f] {
                    let mut b = vec![b'a'; len];
                    b[at] = stop;
                    if let Some(later) = b.get_mut(at + 1) {
                        *later = b',';
                    }
                    assert_eq!(stop_at(&b), at, "{b:?}");
                }
            }
        }
    }

    proptest::proptest! {
        /// The one-pass namespace scan finds the same end and the same error as the two
        /// passes it replaced (find the `,`, then check the name), whatever the characters.
        #[test]
        fn namespace_end_agrees_with_find_then_check(
            name in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => proptest::char::range('a', 'z'),
                    1 => proptest::sample::select(vec![',', '#', '?', '\u{0}', '\u{1f}', '\u{7f}', ' ', '/']),
                    1 => proptest::char::any(),
                ],
                0..24,
            ),
            max in 0_usize..30,
        ) {
            let text = format!("2/{}", name.iter().collect::<String>());
            let end = text[1..].find(',').map_or(text.len(), |p| 1 + p);
            let reference = check_namespace(&text[1..end], max)
                .map(|()| end)
                .map_err(DecodeError::from);
            proptest::prop_assert_eq!(namespace_end(&text, 1, max), reference);
        }
    }

    /// What a decoder made of a text, comparable.
    fn outcome(r: Result<Option<PacketBuf>, DecodeError>) -> Result<Option<Packet>, DecodeError> {
        r.map(|p| p.map(PacketBuf::into_packet))
    }

    /// The namespace memo: a name it holds is read without the scan; a longer name, a name
    /// followed by something other than `,`, or one the limit refuses is read in full.
    #[test]
    fn the_namespace_memo_only_skips_names_already_accepted() {
        let mut d = Decoder::new(DecodeLimits::default());
        let body = r#"{"sid":"lv_VI97HAXpY6yYW"}"#;
        for text in [
            format!("0/custom_nsp,{body}"),
            format!("0/custom_nsp,{body}"),
            format!("0/custom_nsp#,{body}"),
            format!("0/custom_nspx,{body}"),
            format!("0/custom_ns,{body}"),
            format!("0/custom_nsp\u{1},{body}"),
            format!("0/custom_nsp{body}"),
            format!("0/custom_nsp,{body}"),
            format!("0{body}"),
            "0/custom_nsp,".to_owned(),
            "0/custom_nsp".to_owned(),
        ] {
            let fresh = Decoder::new(DecodeLimits::default()).read_text(text.as_str().into());
            assert_eq!(
                outcome(d.read_text(text.as_str().into())),
                outcome(fresh),
                "{text}"
            );
        }
        let memo = d.memo;
        assert_eq!(usize::from(memo.len), "/custom_nsp,".len());
        // It matches its own name with the `,`, and nothing that differs in those bytes.
        let at = |text: &str| memo.hit(format!("{text}{body}").as_bytes(), 1);
        assert_eq!(at("0/custom_nsp,"), Some(12));
        assert_eq!(at("0/custom_nspx,"), None);
        assert_eq!(at("0/custom_nsp#,"), None);
        assert_eq!(at("0/custom_ns,"), None);
        assert_eq!(at("0/Custom_nsp,"), None);
        assert_eq!(
            NsMemo::default().hit(format!("0/,{body}").as_bytes(), 1),
            None
        );
        // A name of fifteen bytes and its `,` fill the sixteen; a longer one is not kept.
        let text = format!("0/abcdefghijklmn,{body}");
        assert!(d.read_text(text.as_str().into()).is_ok());
        assert_eq!(d.memo.len, 16);
        let text = format!("0/abcdefghijklmno,{body}");
        assert!(d.read_text(text.as_str().into()).is_ok());
        assert_eq!(d.memo.len, 16);
        // Under a tighter limit, no name it refuses is ever kept.
        let limits = DecodeLimits {
            max_namespace_len: 4,
            ..DecodeLimits::default()
        };
        let mut d = Decoder::new(limits);
        for _ in 0..2 {
            assert!(matches!(
                d.read_text(format!("0/abcd,{body}").as_str().into()),
                Err(DecodeError::InvalidNamespace(_))
            ));
        }
        assert_eq!(d.memo.len, 0);
    }

    proptest::proptest! {
        /// A decoder kept across packets (its namespace memo filled by the ones before)
        /// accepts and refuses each text as a fresh decoder does, with the same packet.
        #[test]
        fn a_kept_decoder_reads_each_text_as_a_fresh_one(
            texts in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["0", "1", "2", "3", "4", "51-", "2"]),
                    proptest::sample::select(vec![
                        "", "/", "/custom_nsp", "/custom_ns", "/custom_nspp", "/custom_nsp#",
                        "/custom_nsp?x", "/a", "/a\u{1}", "/\u{e9}", "/a\u{7f}",
                        "/abcdefghijklmn", "/abcdefghijklmno", "/abcdefghijklm",
                    ]),
                    proptest::sample::select(vec![",", ",", ""]),
                    proptest::sample::select(vec![
                        "", "{}", "7", r#"["e",1]"#, r#"1["e",{"a":[1,2,3]}]"#,
                        r#"{"sid":"lv_VI97HAXpY6yYW"}"#, r#"[{"_placeholder":true,"num":0}]"#,
                        r#"["e",{"_placeholder":true,"num":0}]"#,
                    ]),
                ),
                1..12,
            ),
            max_namespace_len in proptest::sample::select(vec![4_usize, 11, 64]),
            defer in proptest::bool::ANY,
        ) {
            let limits = DecodeLimits { max_namespace_len, ..DecodeLimits::default() };
            let mut kept = Decoder::new(limits).defer_json_check(defer);
            for (ty, ns, sep, rest) in texts {
                let text = format!("{ty}{ns}{sep}{rest}");
                let fresh = Decoder::new(limits)
                    .defer_json_check(defer)
                    .read_text(text.as_str().into());
                proptest::prop_assert_eq!(
                    outcome(kept.read_text(text.as_str().into())),
                    outcome(fresh),
                    "{}", text
                );
                kept.reset();
            }
        }
    }

    #[test]
    fn placeholders_at_sight_short_and_long_texts_agree() {
        let ph = |n: u8| format!(r#"{{"_placeholder":true,"num":{n}}}"#);
        let cases = [
            (format!(r#"["a",{}]"#, ph(0)), 1, true),
            (format!(r#"["_e_E_",{},{}]"#, ph(1), ph(0)), 2, true),
            (format!(r#"["a",1.5,-2,"1e5",{}]"#, ph(0)), 1, false),
            (format!(r#"["a",1e5,{}]"#, ph(0)), 1, false),
            (format!(r#"["a",2.E1,{}]"#, ph(0)), 1, false),
            (format!(r#"["a\n",{}]"#, ph(0)), 1, false),
            (format!(r#"["a",{}]"#, ph(1)), 1, false),
            (format!(r#"["a",{},{}]"#, ph(0), ph(0)), 2, false),
            (format!(r#"["a",{}]"#, ph(0)), 2, false),
            (
                r#"["a",{"x":1,"_placeholder":true,"num":0}]"#.to_owned(),
                1,
                false,
            ),
            (
                r#"["a",{"_placeholder":true,"num":00}]"#.to_owned(),
                1,
                false,
            ),
            (
                r#"["a",{"_placeholder":true,"num":0 }]"#.to_owned(),
                1,
                false,
            ),
            (
                r#"["_placeholder",{"_placeholder":true,"num":0}]"#.to_owned(),
                1,
                false,
            ),
            (format!(r#"["a",{}]"#, ph(0)), 0, false),
        ];
        let pad = "p".repeat(SHORT_SCAN);
        for (json, attachments, expected) in cases {
            assert!(json.len() <= SHORT_SCAN);
            assert_eq!(
                placeholders_at_sight(&json, attachments),
                expected,
                "{json}"
            );
            // The same text made longer than the one-pass limit takes the memchr path.
            let long = json.replacen('[', &format!("[\"{pad}\","), 1);
            assert!(long.len() > SHORT_SCAN);
            assert_eq!(
                placeholders_at_sight(&long, attachments),
                expected,
                "{long}"
            );
        }
        // A run of more than 300 digits only fits in a long text.
        let digits = format!(r#"["a",{},{}]"#, "1".repeat(301), ph(0));
        assert!(!placeholders_at_sight(&digits, 1));
        let digits = format!(r#"["a",{},{}]"#, "1".repeat(300), ph(0));
        assert!(placeholders_at_sight(&digits, 1));
    }

    #[test]
    fn deep_binary_packets_are_checked_in_full() {
        let ph = r#"{"_placeholder":true,"num":0}"#;
        for depth in [100, 126, 127, 128, 200] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let json = format!(r#"["e",{ph},{deep}]"#);
            // Only nesting that could reach the limit leaves the fast path.
            assert_eq!(placeholders_at_sight(&json, 1), depth + 1 < DEEP, "{depth}");
            // Either way, the deferred decoder and the full check agree.
            let text = format!("51-{json}");
            let mut full = Decoder::new(DecodeLimits::default());
            let mut deferred = Decoder::new(DecodeLimits::default()).defer_json_check(true);
            let full = full.decode_text(text.as_str().into());
            let deferred = deferred.decode_text(text.as_str().into());
            assert_eq!(full.is_ok(), deferred.is_ok(), "{depth}");
            assert_eq!(full.is_ok(), depth + 1 < 128, "{depth}");
        }
    }

    /// What [`placeholders_at_sight`] decides on a short text, one byte at a time (the scan
    /// before the word at a time one).
    fn at_sight_reference(json: &str, attachments: usize) -> bool {
        let b = json.as_bytes();
        assert!(b.len() <= SHORT_SCAN);
        if attachments == 0 || attachments > 64 {
            return false;
        }
        if b.len() >= 2 * DEEP && b.iter().filter(|&&c| c == b'[' || c == b'{').count() >= DEEP {
            return false;
        }
        let mut places = Placeholders {
            b,
            attachments,
            seen: 0,
            found: 0,
        };
        for (at, &c) in b.iter().enumerate() {
            let plain = match c {
                b'\\' => false,
                b'e' | b'E' => !at
                    .checked_sub(1)
                    .is_some_and(|p| b[p].is_ascii_digit() || b[p] == b'.'),
                b'_' => places.key_at(at),
                _ => true,
            };
            if !plain {
                return false;
            }
        }
        places.found == attachments
    }

    #[test]
    fn exponents_across_groups_of_eight() {
        let ph = r#"{"_placeholder":true,"num":0}"#;
        // A digit at the end of one group of eight, its exponent at the start of the next,
        // at every offset; and an `e` after other bytes.
        for pad in 0..16 {
            let p = "p".repeat(pad);
            for (mid, expected) in [
                ("1e5", false),
                ("1.5E5", false),
                ("1x5", true),
                ("xe5", true),
            ] {
                let json = format!(r#"["a{p}",{mid},{ph}]"#);
                assert_eq!(placeholders_at_sight(&json, 1), expected, "{json}");
                assert_eq!(at_sight_reference(&json, 1), expected, "{json}");
            }
        }
    }

    #[test]
    fn keys_and_escapes_at_every_offset_of_a_word() {
        let ph = |n: u8| format!(r#"{{"_placeholder":true,"num":{n}}}"#);
        // Every offset within a word and across the text's last, shorter word.
        for pad in 0..20 {
            let p = "p".repeat(pad);
            for (json, attachments, expected) in [
                (format!(r#"["a{p}",{}]"#, ph(0)), 1, true),
                (format!(r#"["a{p}_x",{}]"#, ph(0)), 1, true),
                (format!(r#"["a{p}_",{},{}]"#, ph(1), ph(0)), 2, true),
                (format!(r#"["a{p}\n",{}]"#, ph(0)), 1, false),
                (format!(r#"["a{p}",{},"_placeholder"]"#, ph(0)), 1, false),
                (format!(r#"["a{p}",{},{}]"#, ph(0), ph(0)), 2, false),
                (format!(r#"["a{p}",{}]"#, ph(0)), 2, false),
                (format!(r#"["a{p}",{},"1{p}e5"]"#, ph(0)), 1, pad > 0),
                (format!(r#"[{}{p},"ee_e_"]"#, ph(0)), 1, true),
                (format!(r#"[{}{p},"e.e"]"#, ph(0)), 1, false),
            ] {
                assert_eq!(
                    placeholders_at_sight(&json, attachments),
                    expected,
                    "{json}"
                );
                assert_eq!(at_sight_reference(&json, attachments), expected, "{json}");
            }
        }
    }

    /// One stop (or none) at every offset of every text up to 48 bytes, for each kind of stop:
    /// the first word, the 32-byte block, the words after it and the byte-by-byte end each
    /// see one.
    #[test]
    fn string_stop_finds_one_stop_at_every_offset_of_short_texts() {
        for len in 0..=48 {
            // `at == len`: no stop at all.
            for at in 0..=len {
                for stop in [b'"', b'\\', 0x1f, 0x00] {
                    let mut b = vec![b'a'; len];
                    if let Some(c) = b.get_mut(at) {
                        *c = stop;
                    }
                    let found = (at < len).then_some(at);
                    assert_eq!(string_stop(&b, true), found, "{len} {at} {stop}");
                    let plain = found.filter(|_| stop == b'"' || stop == b'\\');
                    assert_eq!(string_stop(&b, false), plain, "{len} {at} {stop}");
                }
            }
        }
    }

    /// `string_stop` against a byte-by-byte search, with and without control characters.
    fn same_stop(b: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        for controls in [false, true] {
            let expected = b
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || (controls && c < 0x20));
            proptest::prop_assert_eq!(string_stop(b, controls), expected);
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn string_stop_finds_the_first_stop(
            b in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::sample::select(vec![b'"', b'\\', 0x1f, 0x20, b'a', 0x9f, 0xa2]),
                ],
                0..40,
            ),
        ) {
            same_stop(&b)?;
        }

        #[test]
        fn string_stop_finds_the_first_stop_after_a_long_clean_run(
            clean in 0_usize..150,
            fill in proptest::sample::select(vec![b'a', b' ', 0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            let mut b = vec![fill; clean];
            b.extend_from_slice(&tail);
            same_stop(&b)?;
        }

        #[test]
        fn placeholders_at_sight_matches_the_byte_scan(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    r#"{"_placeholder":true,"num":0}"#, r#"{"_placeholder":true,"num":1}"#,
                    r#"{"_placeholder":true,"num":01}"#, r#"{"_placeholder":false,"num":0}"#,
                    "_placeholder", "_", "\\", "e", "E", "d", "^", "]", ".", "0", "9", "1e5",
                    "2.E1", "a", "\"", ",", "[", "{", "}", " ", "é", "\u{1}", "eeeeeee",
                    "_e", "9E", ".e", "pppppppp",
                ]),
                0..24,
            ),
            attachments in 0..3usize,
        ) {
            let json = format!("[\"a\",{}]", parts.concat());
            proptest::prop_assume!(json.len() <= SHORT_SCAN);
            proptest::prop_assert_eq!(
                placeholders_at_sight(&json, attachments),
                at_sight_reference(&json, attachments),
                "{}", json
            );
        }
    }

    #[test]
    fn reset_frees_pending() {
        let mut d = Decoder::default();
        let text = r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        assert_eq!(d.decode_text(text.into()), Ok(None));
        assert_eq!(d.decode_binary(Bytes::from_static(b"1")), Ok(None));
        assert_eq!(d.awaiting_attachments(), 1);
        d.reset();
        assert_eq!(d.awaiting_attachments(), 0);
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"2")),
            Err(DecodeError::UnexpectedBinary)
        );
    }
}
