//! The one route table of the api component. It drives dispatch ([`super::handle`]), 404,
//! 405 with `Allow`, who may call a route ([`Access`]), and the OpenAPI document
//! ([`super::openapi`]).
//!
//! Paths are relative to [`super::PREFIX`]; `{name}` matches one non-empty path segment.
//! HEAD is allowed wherever GET is, and answered as GET without a body.

use http::Method;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: no token needed.
    Public,
    /// The operator: `Authorization: Bearer <api_token>`. A user's access token gets 403.
    Operator,
    /// A signed-in user: `Authorization: Bearer <access token>`. Anything else gets 401.
    User,
}

/// Every operation the component serves; [`super::handle`] maps each to its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    OpenApi,
    ListUsers,
    CreateUser,
    GetUser,
    UpdateUser,
    DeleteUser,
    GetUserPreferences,
    UpdateUserPreferences,
    Register,
    Login,
    Refresh,
    Logout,
    Google,
    GetMe,
    UpdateMe,
    DeleteMe,
    GetMyPreferences,
    UpdateMyPreferences,
    ChangePassword,
    LinkGoogle,
    RequestEmailProof,
    ListSubscriptions,
    Subscribe,
    GetSubscription,
    UpdateSubscription,
    DeleteSubscription,
    ListSubscriptionItems,
    GetFeed,
    ListDigests,
    GetDigest,
}

/// One documented response of an operation. `schema` names a schema of the document's
/// `components.schemas`; `None` means no body.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub description: &'static str,
    pub schema: Option<&'static str>,
}

const fn reply(status: u16, description: &'static str, schema: Option<&'static str>) -> Reply {
    Reply {
        status,
        description,
        schema,
    }
}

/// One method on one route.
#[derive(Debug)]
pub struct Operation {
    pub method: Method,
    pub op: Op,
    /// The OpenAPI `operationId`.
    pub id: &'static str,
    pub summary: &'static str,
    /// The request body's schema (JSON), if the operation takes one.
    pub request: Option<&'static str>,
    /// The query parameters' schema names, if any (documented as `in: query`).
    pub query: &'static [(&'static str, &'static str)],
    /// Whether the operation honours `If-Match` / `If-None-Match` (documented as headers).
    pub conditional: bool,
    /// The success responses; every error is `application/problem+json` (`default`).
    pub replies: &'static [Reply],
}

/// A path and its operations.
#[derive(Debug)]
pub struct Route {
    pub path: &'static str,
    pub access: Access,
    pub operations: &'static [Operation],
}

impl Route {
    /// The operation for `method` (HEAD finds GET's).
    pub fn operation(&self, method: &Method) -> Option<&'static Operation> {
        let method = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.operations.iter().find(|o| o.method == *method)
    }

    /// The `Allow` header: the operations' methods, with HEAD after GET.
    pub fn allow(&self) -> String {
        let mut methods: Vec<&str> = Vec::new();
        for operation in self.operations {
            methods.push(operation.method.as_str());
            if operation.method == Method::GET {
                methods.push("HEAD");
            }
        }
        methods.join(", ")
    }

    /// The path's values for its `{name}` segments, in order, if `path` matches.
    pub fn matches<'a>(&self, path: &'a str) -> Option<Vec<&'a str>> {
        let mut params = Vec::new();
        let mut template = self.path.split('/');
        let mut given = path.split('/');
        loop {
            match (template.next(), given.next()) {
                (None, None) => return Some(params),
                (Some(t), Some(g)) if t.starts_with('{') && t.ends_with('}') => {
                    if g.is_empty() {
                        return None;
                    }
                    params.push(g);
                }
                (Some(t), Some(g)) if t == g => {}
                _ => return None,
            }
        }
    }
}

/// The route matching `path` (relative to the prefix) and its path parameters.
pub fn find(path: &str) -> Option<(&'static Route, Vec<&str>)> {
    ROUTES
        .iter()
        .find_map(|route| route.matches(path).map(|params| (route, params)))
}

const USER: Option<&str> = Some("UserWithPreferences");
const PREFERENCES: Option<&str> = Some("Preferences");
const TOKENS: Option<&str> = Some("TokenResponse");

const OK_USER: &[Reply] = &[
    reply(200, "The user with its preferences", USER),
    reply(304, "Not modified (If-None-Match)", None),
];
const OK_PREFERENCES: &[Reply] = &[
    reply(200, "The preferences", PREFERENCES),
    reply(304, "Not modified (If-None-Match)", None),
];
const UPDATED_USER: &[Reply] = &[reply(200, "The updated user", USER)];
const UPDATED_PREFERENCES: &[Reply] = &[reply(200, "The updated preferences", PREFERENCES)];
const NO_CONTENT: &[Reply] = &[reply(204, "Done", None)];
const SUBSCRIPTION: Option<&str> = Some("Subscription");
const ITEMS_QUERY: &[(&str, &str)] = &[("limit", "Limit"), ("before", "ItemCursor")];

const LIST_QUERY: &[(&str, &str)] = &[
    ("limit", "Limit"),
    ("after", "UserIdCursor"),
    ("email", "EmailQuery"),
];

/// Every route of the api component.
pub static ROUTES: &[Route] = &[
    Route {
        path: "/openapi.json",
        access: Access::Public,
        operations: &[Operation {
            method: Method::GET,
            op: Op::OpenApi,
            id: "getOpenApi",
            summary: "This document (OpenAPI 3.1)",
            request: None,
            query: &[],
            conditional: true,
            replies: &[
                reply(200, "The OpenAPI document", Some("OpenApiDocument")),
                reply(304, "Not modified (If-None-Match)", None),
            ],
        }],
    },
    Route {
        path: "/users",
        access: Access::Operator,
        operations: &[
            Operation {
                method: Method::GET,
                op: Op::ListUsers,
                id: "listUsers",
                summary: "Users by id ascending (keyset pages)",
                request: None,
                query: LIST_QUERY,
                conditional: false,
                replies: &[reply(200, "A page of users", Some("UserPage"))],
            },
            Operation {
                method: Method::POST,
                op: Op::CreateUser,
                id: "createUser",
                summary: "Create a user (without a password) with default preferences",
                request: Some("NewUser"),
                query: &[],
                conditional: false,
                replies: &[reply(201, "The created user", USER)],
            },
        ],
    },
    Route {
        path: "/users/{id}",
        access: Access::Operator,
        operations: &[
            Operation {
                method: Method::GET,
                op: Op::GetUser,
                id: "getUser",
                summary: "A user with its preferences",
                request: None,
                query: &[],
                conditional: true,
                replies: OK_USER,
            },
            Operation {
                method: Method::PATCH,
                op: Op::UpdateUser,
                id: "updateUser",
                summary: "Change a user (JSON merge patch)",
                request: Some("UserPatch"),
                query: &[],
                conditional: true,
                replies: UPDATED_USER,
            },
            Operation {
                method: Method::DELETE,
                op: Op::DeleteUser,
                id: "deleteUser",
                summary: "Delete a user, its preferences and sessions",
                request: None,
                query: &[],
                conditional: true,
                replies: NO_CONTENT,
            },
        ],
    },
    Route {
        path: "/users/{id}/preferences",
        access: Access::Operator,
        operations: &[
            Operation {
                method: Method::GET,
                op: Op::GetUserPreferences,
                id: "getUserPreferences",
                summary: "A user's preferences",
                request: None,
                query: &[],
                conditional: true,
                replies: OK_PREFERENCES,
            },
            Operation {
                method: Method::PATCH,
                op: Op::UpdateUserPreferences,
                id: "updateUserPreferences",
                summary: "Change a user's preferences (JSON merge patch)",
                request: Some("PreferencesPatch"),
                query: &[],
                conditional: true,
                replies: UPDATED_PREFERENCES,
            },
        ],
    },
    Route {
        path: "/auth/register",
        access: Access::Public,
        operations: &[Operation {
            method: Method::POST,
            op: Op::Register,
            id: "register",
            summary: "Create an account with a password; signs it in",
            request: Some("Registration"),
            query: &[],
            conditional: false,
            replies: &[reply(
                201,
                "The new user and its tokens",
                Some("RegistrationResponse"),
            )],
        }],
    },
    Route {
        path: "/auth/login",
        access: Access::Public,
        operations: &[Operation {
            method: Method::POST,
            op: Op::Login,
            id: "login",
            summary: "Sign in with email and password",
            request: Some("Login"),
            query: &[],
            conditional: false,
            replies: &[reply(200, "Tokens", TOKENS)],
        }],
    },
    Route {
        path: "/auth/refresh",
        access: Access::Public,
        operations: &[Operation {
            method: Method::POST,
            op: Op::Refresh,
            id: "refresh",
            summary: "Spend a refresh token for a new pair",
            request: Some("RefreshRequest"),
            query: &[],
            conditional: false,
            replies: &[reply(200, "A new token pair", TOKENS)],
        }],
    },
    Route {
        path: "/auth/logout",
        access: Access::Public,
        operations: &[Operation {
            method: Method::POST,
            op: Op::Logout,
            id: "logout",
            summary: "End the session of a refresh token (its whole family)",
            request: Some("RefreshRequest"),
            query: &[],
            conditional: false,
            replies: NO_CONTENT,
        }],
    },
    Route {
        path: "/auth/google",
        access: Access::Public,
        operations: &[Operation {
            method: Method::POST,
            op: Op::Google,
            id: "googleSignIn",
            summary: "Sign in with a Google ID token (links or creates the account)",
            request: Some("GoogleSignIn"),
            query: &[],
            conditional: false,
            replies: &[
                reply(200, "Tokens for an existing account", TOKENS),
                reply(201, "Tokens for a new account", TOKENS),
            ],
        }],
    },
    Route {
        path: "/me",
        access: Access::User,
        operations: &[
            Operation {
                method: Method::GET,
                op: Op::GetMe,
                id: "getMe",
                summary: "The signed-in user with its preferences",
                request: None,
                query: &[],
                conditional: true,
                replies: OK_USER,
            },
            Operation {
                method: Method::PATCH,
                op: Op::UpdateMe,
                id: "updateMe",
                summary: "Change the signed-in user (JSON merge patch); a new email needs current_password (or id_token) and ends the user's other sessions",
                request: Some("MePatch"),
                query: &[],
                conditional: true,
                replies: UPDATED_USER,
            },
            Operation {
                method: Method::DELETE,
                op: Op::DeleteMe,
                id: "deleteMe",
                summary: "Delete the signed-in user's account",
                request: None,
                query: &[],
                conditional: true,
                replies: NO_CONTENT,
            },
        ],
    },
    Route {
        path: "/me/preferences",
        access: Access::User,
        operations: &[
            Operation {
                method: Method::GET,
                op: Op::GetMyPreferences,
                id: "getMyPreferences",
                summary: "The signed-in user's preferences",
                request: None,
                query: &[],
                conditional: true,
                replies: OK_PREFERENCES,
            },
            Operation {
                method: Method::PATCH,
                op: Op::UpdateMyPreferences,
                id: "updateMyPreferences",
                summary: "Change the signed-in user's preferences (JSON merge patch)",
                request: Some("PreferencesPatch"),
                query: &[],
                conditional: true,
                replies: UPDATED_PREFERENCES,
            },
        ],
    },
    Route {
        path: "/me/password",
        access: Access::User,
        operations: &[Operation {
            method: Method::POST,
            op: Op::ChangePassword,
            id: "changePassword",
            summary: "Change the password; ends every session of the user",
            request: Some("PasswordChange"),
            query: &[],
            conditional: false,
            replies: NO_CONTENT,
        }],
    },
    Route {
        path: "/me/identities/google",
        access: Access::User,
        operations: &[Operation {
            method: Method::POST,
            op: Op::LinkGoogle,
            id: "linkGoogle",
            summary: "Link a Google account to the signed-in user (needs the current password)",
            request: Some("GoogleLink"),
            query: &[],
            conditional: false,
            replies: NO_CONTENT,
        }],
    },
    Route {
        path: "/me/email/verification",
        access: Access::User,
        operations: &[Operation {
            method: Method::POST,
            op: Op::RequestEmailProof,
            id: "requestEmailProof",
            summary: "Ask for a signed link, mailed to the current address, that proves it (digests are mailed only to verified addresses)",
            request: None,
            query: &[],
            conditional: false,
            replies: &[
                reply(
                    200,
                    "The address is verified already; nothing queued",
                    Some("EmailVerification"),
                ),
                reply(
                    202,
                    "Not verified: a proof is queued (or was pending already)",
                    Some("EmailVerification"),
                ),
            ],
        }],
    },
    Route {
        path: "/me/subscriptions",
        access: Access::User,
        operations: &[
            Operation {
                method: Method::GET,
                op: Op::ListSubscriptions,
                id: "listMySubscriptions",
                summary: "The signed-in user's subscriptions by id ascending (keyset pages)",
                request: None,
                query: &[("limit", "Limit"), ("after", "SubscriptionIdCursor")],
                conditional: false,
                replies: &[reply(
                    200,
                    "A page of subscriptions",
                    Some("SubscriptionPage"),
                )],
            },
            Operation {
                method: Method::POST,
                op: Op::Subscribe,
                id: "subscribe",
                summary: "Follow a YouTube channel, subreddit or blog by a URL as pasted (at most 500 subscriptions per user)",
                request: Some("NewSubscription"),
                query: &[],
                conditional: false,
                replies: &[
                    reply(
                        200,
                        "Already subscribed: the subscription (reactivated)",
                        SUBSCRIPTION,
                    ),
                    reply(201, "The new subscription", SUBSCRIPTION),
                ],
            },
        ],
    },
    Route {
        path: "/me/subscriptions/{subscription_id}",
        access: Access::User,
        operations: &[
            Operation {
                method: Method::GET,
                op: Op::GetSubscription,
                id: "getMySubscription",
                summary: "One of the signed-in user's subscriptions",
                request: None,
                query: &[],
                conditional: false,
                replies: &[reply(200, "The subscription", SUBSCRIPTION)],
            },
            Operation {
                method: Method::PATCH,
                op: Op::UpdateSubscription,
                id: "updateMySubscription",
                summary: "Change a subscription (JSON merge patch)",
                request: Some("SubscriptionPatch"),
                query: &[],
                conditional: false,
                replies: &[reply(200, "The updated subscription", SUBSCRIPTION)],
            },
            Operation {
                method: Method::DELETE,
                op: Op::DeleteSubscription,
                id: "deleteMySubscription",
                summary: "Stop following a source",
                request: None,
                query: &[],
                conditional: false,
                replies: NO_CONTENT,
            },
        ],
    },
    Route {
        path: "/me/subscriptions/{subscription_id}/items",
        access: Access::User,
        operations: &[Operation {
            method: Method::GET,
            op: Op::ListSubscriptionItems,
            id: "listMySubscriptionItems",
            summary: "The items of a subscription's source, newest first (keyset pages)",
            request: None,
            query: ITEMS_QUERY,
            conditional: false,
            replies: &[reply(200, "A page of items", Some("ItemPage"))],
        }],
    },
    Route {
        path: "/me/feed",
        access: Access::User,
        operations: &[Operation {
            method: Method::GET,
            op: Op::GetFeed,
            id: "getMyFeed",
            summary: "Items of the signed-in user's active subscriptions, newest first",
            request: None,
            query: ITEMS_QUERY,
            conditional: false,
            replies: &[reply(200, "A page of the feed", Some("FeedPage"))],
        }],
    },
    Route {
        path: "/me/digests",
        access: Access::User,
        operations: &[Operation {
            method: Method::GET,
            op: Op::ListDigests,
            id: "listMyDigests",
            summary: "The signed-in user's digests, newest first (keyset pages)",
            request: None,
            query: &[("limit", "Limit"), ("before", "DigestCursor")],
            conditional: false,
            replies: &[reply(200, "A page of digests", Some("DigestPage"))],
        }],
    },
    Route {
        path: "/me/digests/{digest_id}",
        access: Access::User,
        operations: &[Operation {
            method: Method::GET,
            op: Op::GetDigest,
            id: "getMyDigest",
            summary: "One of the signed-in user's digests, with its items in order",
            request: None,
            query: &[],
            conditional: false,
            replies: &[reply(200, "The digest", Some("Digest"))],
        }],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_templates() {
        let (route, params) = find("/users/42/preferences").expect("route");
        assert_eq!(route.path, "/users/{id}/preferences");
        assert_eq!(params, ["42"]);
        assert_eq!(find("/users").map(|(r, _)| r.path), Some("/users"));
        assert_eq!(find("/users/").map(|(r, _)| r.path), None);
        assert_eq!(find("/users/42/").map(|(r, _)| r.path), None);
        assert_eq!(find("/me").map(|(r, _)| r.path), Some("/me"));
        assert!(find("/me/other").is_none());
        assert!(find("").is_none());
        assert!(find("/").is_none());
    }

    #[test]
    fn allow_lists_head_after_get() {
        let (route, _) = find("/users/1").expect("route");
        assert_eq!(route.allow(), "GET, HEAD, PATCH, DELETE");
        let (route, _) = find("/auth/login").expect("route");
        assert_eq!(route.allow(), "POST");
        assert!(route.operation(&Method::GET).is_none());
        let (route, _) = find("/me").expect("route");
        assert_eq!(
            route.operation(&Method::HEAD).map(|o| o.op),
            Some(Op::GetMe)
        );
    }

    #[test]
    fn operations_are_unique() {
        let mut ids = Vec::new();
        let mut ops = Vec::new();
        for route in ROUTES {
            assert!(route.path.starts_with('/'), "{}", route.path);
            for (i, operation) in route.operations.iter().enumerate() {
                assert!(
                    !route.operations[..i]
                        .iter()
                        .any(|o| o.method == operation.method),
                    "{} has two {}",
                    route.path,
                    operation.method
                );
                assert!(!ids.contains(&operation.id), "{}", operation.id);
                assert!(!ops.contains(&operation.op), "{:?}", operation.op);
                ids.push(operation.id);
                ops.push(operation.op);
            }
        }
    }
}

/// The signed links' operations (`/links/...`, [`crate::digests::links`]): pages and a feed
/// for browsers, mail clients and feed readers, authorised by the `token` in their query
/// (never a bearer token). Outside [`super::PREFIX`] and not in the OpenAPI document: they
/// answer HTML and Atom, not the JSON API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOp {
    /// `GET`: a digest as a web page.
    DigestPage,
    /// `GET`: a page with a button that unsubscribes (a GET never changes anything: mail
    /// scanners fetch links).
    UnsubscribePage,
    /// `POST`: one-click unsubscribe (RFC 8058).
    Unsubscribe,
    /// `GET`: the Atom feed of a user's digests.
    DigestFeed,
    /// `GET`: a page with a button that proves an e-mail address (changes nothing).
    VerifyEmailPage,
    /// `POST`: sets the address of the proof verified.
    VerifyEmail,
}

/// A signed link's path and its operations.
#[derive(Debug)]
pub struct LinkRoute {
    pub path: &'static str,
    pub operations: &'static [(Method, LinkOp)],
}

impl LinkRoute {
    /// The operation for `method` (HEAD finds GET's).
    pub fn operation(&self, method: &Method) -> Option<LinkOp> {
        let method = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.operations
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, op)| *op)
    }

    /// The `Allow` header: the operations' methods, with HEAD after GET.
    pub fn allow(&self) -> String {
        let mut methods: Vec<&str> = Vec::new();
        for (method, _) in self.operations {
            methods.push(method.as_str());
            if *method == Method::GET {
                methods.push("HEAD");
            }
        }
        methods.join(", ")
    }
}

/// The prefix of every signed link's path (`[[trigger.http]] route = "/links/..."`).
pub const LINKS_PREFIX: &str = "/links/";

/// Every signed link of the api component.
pub static LINK_ROUTES: &[LinkRoute] = &[
    LinkRoute {
        path: crate::digests::links::DIGEST_PATH,
        operations: &[(Method::GET, LinkOp::DigestPage)],
    },
    LinkRoute {
        path: crate::digests::links::UNSUBSCRIBE_PATH,
        operations: &[
            (Method::GET, LinkOp::UnsubscribePage),
            (Method::POST, LinkOp::Unsubscribe),
        ],
    },
    LinkRoute {
        path: crate::digests::links::FEED_PATH,
        operations: &[(Method::GET, LinkOp::DigestFeed)],
    },
    LinkRoute {
        path: crate::digests::links::VERIFY_EMAIL_PATH,
        operations: &[
            (Method::GET, LinkOp::VerifyEmailPage),
            (Method::POST, LinkOp::VerifyEmail),
        ],
    },
];

/// The signed link at exactly `path` (the whole path, [`LINKS_PREFIX`] included).
pub fn find_link(path: &str) -> Option<&'static LinkRoute> {
    LINK_ROUTES.iter().find(|route| route.path == path)
}
