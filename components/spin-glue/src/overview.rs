//! The digest overview model over Spin's `spin:llm` interface (`spin_sdk::llm`): the core's
//! [`keemu::digests::overview::Overviewer`]. The engine is the runtime config's
//! `[llm_compute]` (a `remote_http` service, or the local engine when none is named); the
//! model ([`MODEL`]) must be in the component's `ai_models`.
//!
//! `infer` is a synchronous host call: it cannot be raced against a timer or cancelled from
//! here, so the round bounds what follows a slow call instead (see
//! `keemu::digests::overview`).

use keemu::digests::overview::{MAX_TOKENS, MODEL, OverviewError, Overviewer};
use spin_sdk::llm::{self, InferencingModel, InferencingParams};

/// Overviews from the `spin:llm` model [`MODEL`], at most [`MAX_TOKENS`] tokens each.
pub struct SpinOverviewer;

impl Overviewer for SpinOverviewer {
    async fn overview(&self, prompt: &str) -> Result<String, OverviewError> {
        let params = InferencingParams {
            max_tokens: MAX_TOKENS,
            // Low randomness: an overview states what the items say.
            temperature: 0.3,
            ..InferencingParams::default()
        };
        llm::infer_with_options(InferencingModel::Other(MODEL), prompt, params)
            .map(|result| result.text)
            .map_err(|error| match error {
                llm::Error::ModelNotSupported => OverviewError::NotAllowed,
                llm::Error::InvalidInput(_) => OverviewError::Refused,
                llm::Error::RuntimeError(_) => OverviewError::Failed,
            })
    }
}
