//! The router: a plain `match` on method and path.

use http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Ready,
    Metrics,
    Models,
    /// `GET /v1/usage`: the calling key's limits and spend.
    Usage,
    /// `GET /v1/models/{id}`: the id is the rest of the path (model names may hold `/`).
    Model,
    /// Forwarded upstream; the path is passed on without its `/v1` prefix.
    Proxy(Endpoint),
    /// `/admin/...`: behind `[admin] key_env` (absent: not found).
    Admin(AdminRoute),
    /// `/console` and its assets (absent without `[admin] key_env`).
    Console,
    MethodNotAllowed,
    NotFound,
}

/// The admin endpoints, each answered from the log database (`gpt_api_common::admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    /// `GET /admin/usage?group_by=key|model|upstream&since=…&until=…`
    Usage,
    /// `GET /admin/now`: the console's live figures.
    Now,
    /// `GET /admin/keys`: every client key's limits, what remains of them, and its spend.
    Keys,
    /// `GET /admin/requests?…`: a page of the request log.
    Requests,
    /// `GET /admin/requests/{id}`: one request.
    Request,
    /// Any other path under `/admin/` (404 once the admin key is checked).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
    Rerank,
    /// OpenAI's Responses API.
    Responses,
    /// Anthropic's Messages API.
    Messages,
    /// Gemini's `/v1beta/models/{model}:generateContent`.
    GeminiGenerate,
    /// Gemini's `/v1beta/models/{model}:streamGenerateContent`.
    GeminiStream,
    /// Bedrock's `/model/{modelId}/converse`.
    Converse,
    /// Bedrock's `/model/{modelId}/converse-stream`.
    ConverseStream,
    /// Cohere's `/v2/chat`.
    CohereChat,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/v1/chat/completions",
            Self::Completions => "/v1/completions",
            Self::Embeddings => "/v1/embeddings",
            Self::Rerank => "/v1/rerank",
            Self::Responses => "/v1/responses",
            Self::Messages => "/v1/messages",
            Self::GeminiGenerate => "/v1beta/models/{model}:generateContent",
            Self::GeminiStream => "/v1beta/models/{model}:streamGenerateContent",
            Self::Converse => "/model/{modelId}/converse",
            Self::ConverseStream => "/model/{modelId}/converse-stream",
            Self::CohereChat => "/v2/chat",
        }
    }

    /// For the endpoints whose path names the model (Gemini's, Bedrock's): the model, and
    /// whether the answer streams (which the path says too).
    pub fn routed_model(self, path: &str) -> Option<(String, bool)> {
        let (model, stream) = match self {
            Self::GeminiGenerate => (gemini_model(path)?.0, false),
            Self::GeminiStream => (gemini_model(path)?.0, true),
            Self::Converse => (converse_model(path)?.0, false),
            Self::ConverseStream => (converse_model(path)?.0, true),
            _ => return None,
        };
        Some((super::query::decode(model)?, stream))
    }

    /// The path under the upstream's base URL (which ends in its own `/v1`), for the
    /// OpenAI and Anthropic endpoints (the other kinds' paths are made per kind).
    pub fn upstream_path(self) -> &'static str {
        self.path().strip_prefix("/v1").unwrap_or("")
    }

    pub fn can_stream(self) -> bool {
        !matches!(self, Self::Embeddings | Self::Rerank)
    }
}

pub fn route(method: &Method, path: &str) -> Route {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let (expected, route) = match path {
        "/health" => (Method::GET, Route::Health),
        "/ready" => (Method::GET, Route::Ready),
        "/metrics" => (Method::GET, Route::Metrics),
        "/v1/models" => (Method::GET, Route::Models),
        "/v1/usage" => (Method::GET, Route::Usage),
        "/v1/chat/completions" => (Method::POST, Route::Proxy(Endpoint::ChatCompletions)),
        "/v1/completions" => (Method::POST, Route::Proxy(Endpoint::Completions)),
        "/v1/embeddings" => (Method::POST, Route::Proxy(Endpoint::Embeddings)),
        "/v1/rerank" => (Method::POST, Route::Proxy(Endpoint::Rerank)),
        "/v1/responses" => (Method::POST, Route::Proxy(Endpoint::Responses)),
        "/v1/messages" => (Method::POST, Route::Proxy(Endpoint::Messages)),
        "/v2/chat" => (Method::POST, Route::Proxy(Endpoint::CohereChat)),
        "/admin/usage" => (Method::GET, Route::Admin(AdminRoute::Usage)),
        "/admin/now" => (Method::GET, Route::Admin(AdminRoute::Now)),
        "/admin/keys" => (Method::GET, Route::Admin(AdminRoute::Keys)),
        "/admin/requests" => (Method::GET, Route::Admin(AdminRoute::Requests)),
        "/console" => (Method::GET, Route::Console),
        _ if model_id(path).is_some() => (Method::GET, Route::Model),
        _ if gemini_model(path).is_some() => {
            let stream = gemini_model(path).is_some_and(|(_, stream)| stream);
            let endpoint = match stream {
                true => Endpoint::GeminiStream,
                false => Endpoint::GeminiGenerate,
            };
            (Method::POST, Route::Proxy(endpoint))
        }
        _ if converse_model(path).is_some() => {
            let stream = converse_model(path).is_some_and(|(_, stream)| stream);
            let endpoint = match stream {
                true => Endpoint::ConverseStream,
                false => Endpoint::Converse,
            };
            (Method::POST, Route::Proxy(endpoint))
        }
        _ if path.starts_with("/admin/requests/") => {
            (Method::GET, Route::Admin(AdminRoute::Request))
        }
        _ if path.starts_with("/console/") => (Method::GET, Route::Console),
        _ if path.starts_with("/admin/") => (Method::GET, Route::Admin(AdminRoute::Unknown)),
        _ => return Route::NotFound,
    };
    if *method == expected {
        route
    } else {
        Route::MethodNotAllowed
    }
}

/// The (still escaped) model of a Gemini path, and whether it is the streaming method.
fn gemini_model(path: &str) -> Option<(&str, bool)> {
    let (model, method) = path.strip_prefix("/v1beta/models/")?.rsplit_once(':')?;
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    (!model.is_empty()).then_some((model, stream))
}

/// The (still escaped) model id of a Bedrock Converse path, and whether it streams.
fn converse_model(path: &str) -> Option<(&str, bool)> {
    let rest = path.strip_prefix("/model/")?;
    let (model, stream) = match rest.strip_suffix("/converse-stream") {
        Some(model) => (model, true),
        None => (rest.strip_suffix("/converse")?, false),
    };
    (!model.is_empty() && !model.contains('/')).then_some((model, stream))
}

/// The model id of a `/v1/models/{id}` path.
pub fn model_id(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/models/").filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(
            route(&Method::POST, "/v1/chat/completions"),
            Route::Proxy(Endpoint::ChatCompletions)
        );
        assert_eq!(
            route(&Method::GET, "/v1/chat/completions"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(&Method::GET, "/v1/models"), Route::Models);
        assert_eq!(route(&Method::GET, "/v1/models/"), Route::Models);
        assert_eq!(route(&Method::POST, "/v3/chat"), Route::NotFound);
        assert_eq!(
            route(&Method::POST, "/v2/chat"),
            Route::Proxy(Endpoint::CohereChat)
        );
        let gemini = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
        assert_eq!(
            route(&Method::POST, gemini),
            Route::Proxy(Endpoint::GeminiStream)
        );
        assert_eq!(
            Endpoint::GeminiStream.routed_model(gemini),
            Some(("gemini-2.5-flash".to_string(), true))
        );
        assert_eq!(
            route(&Method::POST, "/v1beta/models/g:countTokens"),
            Route::NotFound
        );
        let converse = "/model/us.anthropic.claude-3%3A0/converse";
        assert_eq!(
            route(&Method::POST, converse),
            Route::Proxy(Endpoint::Converse)
        );
        assert_eq!(
            Endpoint::Converse.routed_model(converse),
            Some(("us.anthropic.claude-3:0".to_string(), false))
        );
        assert_eq!(
            route(&Method::POST, "/model/m/converse-stream"),
            Route::Proxy(Endpoint::ConverseStream)
        );
        assert_eq!(route(&Method::POST, "/model/a/b/converse"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/v1/models/org/m-1"), Route::Model);
        assert_eq!(model_id("/v1/models/org/m-1"), Some("org/m-1"));
        assert_eq!(
            route(&Method::DELETE, "/v1/models/m"),
            Route::MethodNotAllowed
        );
        assert_eq!(Endpoint::Rerank.upstream_path(), "/rerank");
        assert_eq!(
            route(&Method::POST, "/v1/messages"),
            Route::Proxy(Endpoint::Messages)
        );
        assert_eq!(Endpoint::Responses.upstream_path(), "/responses");
        assert_eq!(
            route(&Method::GET, "/admin/usage"),
            Route::Admin(AdminRoute::Usage)
        );
        assert_eq!(
            route(&Method::GET, "/admin/nothing"),
            Route::Admin(AdminRoute::Unknown)
        );
        assert_eq!(
            route(&Method::POST, "/admin/usage"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&Method::GET, "/admin/requests/0196abc"),
            Route::Admin(AdminRoute::Request)
        );
        assert_eq!(
            route(&Method::GET, "/admin/requests"),
            Route::Admin(AdminRoute::Requests)
        );
        assert_eq!(route(&Method::GET, "/console/console.js"), Route::Console);
    }
}
