//! The api component: `/api/v1/...`.
