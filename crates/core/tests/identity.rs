//! The embedded identity service's rules, on SQLite and PostgreSQL.

use std::time::Duration;

use tricircle_common::{AuthContext, RequestContext, RequestId};
use tricircle_core::identity::bootstrap::bootstrap;
use tricircle_core::identity::{
    Credential, IdentitySettings, NameOrId, ProjectSpec, Scope, UserSpec,
};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_store::{IdentityPatch, Store, backend_tests};

fn app(store: &Store, ttl: Duration) -> App {
    let mut settings = Settings::new(100);
    settings.identity = IdentitySettings { token_ttl: ttl, ..Default::default() };
    App::new(store.clone(), SecretBox::from_key([1; 32]), settings)
}

/// An app whose token cache keeps validations for `cache_ttl`.
fn app_with_cache(store: &Store, cache_ttl: Duration) -> App {
    let mut settings = Settings::new(100);
    settings.identity.token_cache_ttl = cache_ttl;
    App::new(store.clone(), SecretBox::from_key([1; 32]), settings)
}

fn by_name(name: &str) -> NameOrId {
    NameOrId::Name {
        name: name.into(),
        domain: Some(Box::new(NameOrId::Name { name: "Default".into(), domain: None })),
    }
}

fn password(user: &str, pw: &str) -> Credential {
    Credential::Password { user: by_name(user), password: pw.into() }
}

fn ctx_of(auth: AuthContext) -> RequestContext {
    RequestContext { request_id: RequestId::new(), auth }
}

backend_tests! {
    async fn bootstrap_login_and_roles(store: &Store) {
        let app = app(store, Duration::from_secs(3600));
        let b = bootstrap(store, "adminpw").await.unwrap();
        assert!(b.created_admin);
        let again = bootstrap(store, "other").await.unwrap();
        assert!(!again.created_admin && again.admin_user_id == b.admin_user_id, "idempotent");

        let t = app.token_issue(password("admin", "adminpw"), Scope::Project(by_name("admin"))).await.unwrap();
        let roles: Vec<_> = t.info.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(roles, ["admin", "member", "reader"], "admin implies member and reader");
        assert_eq!(t.info.project.as_ref().unwrap().0.id, b.admin_project_id);
        let ctx = app.authenticate(&t.token).await.unwrap();
        assert!(ctx.is_admin());
        // The second bootstrap did not change the password.
        assert!(app.token_issue(password("admin", "other"), Scope::Unscoped).await.is_err());

        for bad in [password("admin", "wrong"), password("nobody", "adminpw")] {
            let e = app.token_issue(bad, Scope::Unscoped).await.unwrap_err();
            assert_eq!((e.status(), e.external_message()), (401, "The request you have made requires authentication."), "no hint which part was wrong");
        }
        assert_eq!(app.authenticate("not-a-token").await.unwrap_err().status(), 401);
        assert_eq!(app.token_validate("not-a-token").await.unwrap_err().status(), 404);
    }

    async fn members_scopes_and_revocation(store: &Store) {
        let app = app(store, Duration::from_secs(3600));
        bootstrap(store, "adminpw").await.unwrap();
        let admin = ctx_of(app.authenticate(&app.token_issue(password("admin", "adminpw"), Scope::Project(by_name("admin"))).await.unwrap().token).await.unwrap());
        let demo = app.project_create(&admin, ProjectSpec { name: "demo".into(), ..Default::default() }).await.unwrap();
        assert_eq!(app.project_create(&admin, ProjectSpec { name: "demo".into(), ..Default::default() }).await.unwrap_err().status(), 409);
        let alice = app.user_create(&admin, UserSpec { name: "alice".into(), password: Some("alicepw".into()), ..Default::default() }).await.unwrap();
        let member = store.role_get_by_name("member").await.unwrap().unwrap();

        // No role on demo yet: scoping there fails; unscoped works.
        assert_eq!(app.token_issue(password("alice", "alicepw"), Scope::Project(by_name("demo"))).await.unwrap_err().status(), 401);
        let unscoped = app.token_issue(password("alice", "alicepw"), Scope::Unscoped).await.unwrap();
        assert!(unscoped.info.roles.is_empty() && unscoped.info.project.is_none());

        app.role_grant(&admin, &demo.id, &alice.id, &member.id).await.unwrap();
        let t = app.token_issue(password("alice", "alicepw"), Scope::Project(NameOrId::Id(demo.id.clone()))).await.unwrap();
        let alice_ctx = ctx_of(app.authenticate(&t.token).await.unwrap());
        assert!(!alice_ctx.auth.is_admin() && alice_ctx.auth.has_role("reader"));
        assert_eq!(app.project_list(&alice_ctx, None, None).await.unwrap_err().status(), 403, "members do not manage identity");
        assert_eq!(app.project_get(&alice_ctx, &demo.id).await.unwrap().name, "demo", "but see their project");

        // Rescoping with a token keeps the original expiry.
        let rescoped = app.token_issue(Credential::Token { token: unscoped.token.clone() }, Scope::Project(by_name("demo"))).await.unwrap();
        assert_eq!(rescoped.info.expires_at, unscoped.info.expires_at);
        assert_eq!(rescoped.info.methods, ["token"]);

        // Revoking the role invalidates the scoped token at once.
        app.role_revoke(&admin, &demo.id, &alice.id, &member.id).await.unwrap();
        assert_eq!(app.authenticate(&t.token).await.unwrap_err().status(), 401);
        app.role_grant(&admin, &demo.id, &alice.id, &member.id).await.unwrap();

        // Logout.
        let t2 = app.token_issue(password("alice", "alicepw"), Scope::Project(by_name("demo"))).await.unwrap();
        let alice_ctx = ctx_of(app.authenticate(&t2.token).await.unwrap());
        app.token_revoke(&alice_ctx, &t2.token).await.unwrap();
        assert_eq!(app.authenticate(&t2.token).await.unwrap_err().status(), 401);

        // A password change revokes every token of the user.
        let t3 = app.token_issue(password("alice", "alicepw"), Scope::Unscoped).await.unwrap();
        let alice_ctx = ctx_of(app.authenticate(&t3.token).await.unwrap());
        assert_eq!(app.user_change_password(&alice_ctx, &alice.id, "wrong", "x").await.unwrap_err().status(), 401);
        app.user_change_password(&alice_ctx, &alice.id, "alicepw", "newpw").await.unwrap();
        assert_eq!(app.authenticate(&t3.token).await.unwrap_err().status(), 401);
        let t4 = app.token_issue(password("alice", "newpw"), Scope::Unscoped).await.unwrap();
        // Disabling does too, and blocks logins.
        app.user_update(&admin, &alice.id, IdentityPatch { enabled: Some(false), ..Default::default() }, None).await.unwrap();
        assert_eq!(app.authenticate(&t4.token).await.unwrap_err().status(), 401);
        assert_eq!(app.token_issue(password("alice", "newpw"), Scope::Unscoped).await.unwrap_err().status(), 401);
    }

    async fn tokens_expire(store: &Store) {
        let app = app(store, Duration::from_secs(2));
        bootstrap(store, "adminpw").await.unwrap();
        let t = app.token_issue(password("admin", "adminpw"), Scope::Unscoped).await.unwrap();
        assert!(app.authenticate(&t.token).await.is_ok());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(app.authenticate(&t.token).await.unwrap_err().status(), 401);
    }

    async fn token_cache_is_short_lived_and_local_changes_clear_it(store: &Store) {
        // Two replicas on one database, each with its own token cache.
        let app = app_with_cache(store, Duration::from_millis(300));
        let other = app_with_cache(store, Duration::from_millis(300));
        bootstrap(store, "adminpw").await.unwrap();
        let t = app.token_issue(password("admin", "adminpw"), Scope::Project(by_name("admin"))).await.unwrap();
        assert!(app.authenticate(&t.token).await.unwrap().is_admin());
        let admin = ctx_of(other.authenticate(&t.token).await.unwrap());
        other.token_revoke(&admin, &t.token).await.unwrap();
        assert_eq!(other.authenticate(&t.token).await.unwrap_err().status(), 401, "the revoking replica knows at once");
        assert!(app.authenticate(&t.token).await.is_ok(), "the other answers from its cache within the ttl");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(app.authenticate(&t.token).await.unwrap_err().status(), 401, "and not past it");
        // The explicit validation API always reads the database.
        assert_eq!(app.token_validate(&t.token).await.unwrap_err().status(), 404);

        // With the cache off, every request reads the database.
        let uncached = app_with_cache(store, Duration::ZERO);
        let t2 = app.token_issue(password("admin", "adminpw"), Scope::Project(by_name("admin"))).await.unwrap();
        assert!(uncached.authenticate(&t2.token).await.is_ok());
        let admin = ctx_of(other.authenticate(&t2.token).await.unwrap());
        other.token_revoke(&admin, &t2.token).await.unwrap();
        assert_eq!(uncached.authenticate(&t2.token).await.unwrap_err().status(), 401);
    }
}
