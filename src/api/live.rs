//! `GET /api/v1/events`: Server-Sent Events of content changes (see `services::live`).

use poem::Request;
use poem::web::sse::Event;
use poem_openapi::param::Query;
use poem_openapi::payload::EventStream;
use poem_openapi::types::ToJSON;
use poem_openapi::{Object, OpenApi};

use super::dto::Ts;
use super::{MaybeAuth, header, query_pairs};
use crate::error::ApiResult;
use crate::services::Services;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Published content for apps
    Delivery,
}

/// A change to published content. The SSE `id` is `seq` (send it back as
/// `Last-Event-ID` to resume) and the SSE `event` is `kind`.
#[derive(Object)]
#[oai(rename = "LiveEvent")]
pub struct LiveEventBody {
    /// Position in the event log.
    pub seq: i64,
    /// `entry.published`, `entry.unpublished`, `entry.deleted` or `entry.undeleted`.
    pub kind: String,
    /// The content type's `api_id`.
    #[oai(rename = "type")]
    pub type_: String,
    /// The entry's id.
    pub id: String,
    pub locale: Option<String>,
    pub version: Option<i64>,
    pub at: Ts,
}

type LiveStream = futures_util::stream::BoxStream<'static, LiveEventBody>;

pub struct LiveApi {
    pub services: Services,
}

#[OpenApi(prefix_path = "/api/v1/events", tag = "Tag::Delivery")]
impl LiveApi {
    /// Follow changes to published content you may read, as Server-Sent Events. Resume
    /// after a disconnect with `Last-Event-ID` (browsers' `EventSource` does it for you):
    /// nothing is missed. Comments (`:`) keep the connection alive. A client that falls
    /// far behind is disconnected (it resumes the same way); the stream also ends when
    /// its credential is revoked or expires.
    #[oai(path = "/", method = "get", operation_id = "followEvents")]
    async fn follow(
        &self,
        auth: MaybeAuth,
        req: &Request,
        /// Only these content types (comma-separated api ids).
        #[oai(name = "type")]
        _type: Query<Option<String>>,
    ) -> ApiResult<EventStream<LiveStream>> {
        let principal = auth.principal();
        let bearer = header(req, "authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::to_string);
        let stream = self
            .services
            .live(
                principal,
                bearer,
                &query_pairs(req),
                header(req, "last-event-id"),
            )
            .await?;
        use futures_util::StreamExt;
        let stream: LiveStream = stream
            .map(|e| LiveEventBody {
                seq: e.seq,
                kind: e.kind,
                type_: e.type_id,
                id: e.id,
                locale: e.locale,
                version: e.version.map(i64::from),
                at: Ts(e.at),
            })
            .boxed();
        let heartbeat =
            std::time::Duration::from_secs(self.services.settings.live_heartbeat_secs.max(1));
        Ok(EventStream::new(stream)
            .keep_alive(heartbeat)
            .to_event(|e| {
                Event::message(e.to_json_string())
                    .id(e.seq.to_string())
                    .event_type(e.kind.clone())
            }))
    }
}
