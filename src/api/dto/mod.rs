//! The typed response bodies of the static API: one named schema per shape, so every
//! operation in `/openapi.json` says what it answers and a generated client needs no
//! casts. A body is always made from one of these types (`Typed::new`), so the document
//! cannot drift from what the server sends. Entries are the one exception: their fields
//! depend on the content type, so they are rendered by `render::entry` and documented by
//! the generic `Entry` schema here and by the per-type schemas of `openapi_types`.

pub mod admin;
pub mod auth;
pub mod content;

use std::borrow::Cow;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{
    MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::{Map, Value};

use super::Reply;
use crate::domain::fmt_ts;

/// A JSON answer whose body is a `T`, with status `STATUS` (and a documented 304 when
/// `REVALIDATE`: the operation honours `If-None-Match`).
pub struct Typed<T, const STATUS: u16 = 200, const REVALIDATE: bool = false> {
    reply: Reply,
    _body: PhantomData<fn() -> T>,
}

/// 200 with a body.
pub type Body<T> = Typed<T, 200, false>;
/// 200 with a body and an ETag, or 304 when the client's copy is current.
pub type Fresh<T> = Typed<T, 200, true>;
/// 201 with the created resource.
pub type Made<T> = Typed<T, 201, false>;

impl<T: ToJSON, const STATUS: u16, const REVALIDATE: bool> Typed<T, STATUS, REVALIDATE> {
    pub fn new(body: &T) -> Self {
        Self::wrap(Reply::json(&body.to_json().unwrap_or(Value::Null)))
    }
}

impl<T, const STATUS: u16, const REVALIDATE: bool> Typed<T, STATUS, REVALIDATE> {
    /// A body rendered elsewhere that has `T`'s shape (entries: see the module comment).
    pub fn wrap(reply: Reply) -> Self {
        let status = StatusCode::from_u16(STATUS).unwrap_or(StatusCode::OK);
        // A 304 made by `conditional` stays one.
        let reply = if reply.status_code() == StatusCode::OK {
            reply.status(status)
        } else {
            reply
        };
        Typed {
            reply,
            _body: PhantomData,
        }
    }

    pub fn header(self, name: &'static str, value: impl Into<String>) -> Self {
        Typed {
            reply: self.reply.header(name, value),
            _body: PhantomData,
        }
    }

    /// Answers 304 instead when the request's `If-None-Match` holds `etag`.
    pub fn conditional(self, req: &poem::Request, etag: &str) -> Self {
        Typed {
            reply: self.reply.conditional(req, etag),
            _body: PhantomData,
        }
    }

    pub fn into_reply(self) -> Reply {
        self.reply
    }
}

impl<T: Send, const STATUS: u16, const REVALIDATE: bool> IntoResponse
    for Typed<T, STATUS, REVALIDATE>
{
    fn into_response(self) -> Response {
        self.reply.into_response()
    }
}

fn status_description(status: u16) -> &'static str {
    match status {
        201 => "Created",
        _ => "Success",
    }
}

impl<T: Type, const STATUS: u16, const REVALIDATE: bool> ApiResponse
    for Typed<T, STATUS, REVALIDATE>
{
    fn meta() -> MetaResponses {
        let mut responses = vec![MetaResponse {
            description: status_description(STATUS),
            status: Some(STATUS),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            headers: vec![],
        }];
        if REVALIDATE {
            responses.push(MetaResponse {
                description: "Not modified: the `If-None-Match` ETag is current",
                status: Some(304),
                status_range: None,
                content: vec![],
                headers: vec![],
            });
        }
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// A point in time, as RFC 3339 in UTC with microseconds (`2026-01-31T09:00:00.000000Z`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ts(pub DateTime<Utc>);

impl From<&DateTime<Utc>> for Ts {
    fn from(t: &DateTime<Utc>) -> Ts {
        Ts(*t)
    }
}

/// `Some(time)` as a `Ts`.
pub fn ts(t: &Option<DateTime<Utc>>) -> Option<Ts> {
    t.as_ref().map(Ts::from)
}

impl Type for Ts {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for Ts {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(fmt_ts(&self.0)))
    }
}

impl ParseFromJSON for Ts {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(&s)
                .map(|t| Ts(t.with_timezone(&Utc)))
                .map_err(|_| ParseError::custom("expected an RFC 3339 time")),
            _ => Err(ParseError::custom("expected an RFC 3339 time")),
        }
    }
}

/// A JSON object with any keys and values (field values by field name, details).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonObject(pub Map<String, Value>);

impl From<Value> for JsonObject {
    fn from(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => JsonObject(m),
            _ => JsonObject(Map::new()),
        }
    }
}

impl Type for JsonObject {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "object_any".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut s = MetaSchema::new("object");
        s.additional_properties = Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema::ANY))));
        MetaSchemaRef::Inline(Box::new(s))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for JsonObject {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Object(self.0.clone()))
    }
}

impl ParseFromJSON for JsonObject {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Object(m)) => Ok(JsonObject(m)),
            _ => Err(ParseError::custom("expected a JSON object")),
        }
    }
}

/// Text in a request body, strictly: poem-openapi's `String` also takes `false` or `12`
/// and turns them into `"false"` / `"12"`, which stores what the client did not mean.
/// This refuses anything but a JSON string (400 `invalid_body`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// `Option<Text>` → `Option<String>`.
pub fn text(t: Option<Text>) -> Option<String> {
    t.map(String::from)
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Text(s)),
            Some(other) => Err(ParseError::custom(format!(
                "expected text (a JSON string), found {}",
                json_kind(&other)
            ))),
            None => Err(ParseError::custom("expected text (a JSON string)")),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
