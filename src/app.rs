//! The application shell and routes: staff CRM under `/staff`, the resident app at `/`.

use crate::auth::components::{ResidentSignInPage, StaffSignInPage};
use crate::catalog::components::{CatalogPage, CategoryPage, ServicePage};
use crate::orders::card::OrderCardPage;
use crate::orders::components::{OrdersAllPage, OrdersMinePage};
use crate::orders::new_order::{DraftsPage, NewOrderPage};
use crate::requests::components::{RequestPage, RequestsPage};
use crate::residents::components::ResidentProfilePage;
use crate::ui::resident_shell::ResidentShell;
use crate::ui::staff_shell::{use_staff, StaffProfilePage, StaffShell};
use crate::ui::NotFound;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's Content-Security-Policy allows exactly the scripts Leptos marks with this
    // request's nonce (and the wasm they start).
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(res)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(policy) =
            http::HeaderValue::from_str(&crate::server::security::Security::page_policy(&nonce))
        {
            res.insert_header(http::header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="ru">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover"/>
                <meta name="theme-color" content="#1f6feb"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="apple-touch-icon" href="/icon-192.png"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page as interactive once the browser has hydrated it (tests wait for it).
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/suz.css"/>
        <Title text="СУЗ — платные услуги"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=ResidentSignInPage/>
                <Route path=path!("/staff/login") view=StaffSignInPage/>
                <ParentRoute path=path!("/staff") view=StaffShell>
                    <Route path=path!("") view=StaffHome/>
                    // Whole on the server in one piece (its loads take a millisecond): no
                    // streamed fallbacks swapped by scripts, one compressed answer.
                    <Route path=path!("orders") ssr=SsrMode::Async view=OrdersAllPage/>
                    <Route path=path!("orders/mine") ssr=SsrMode::Async view=OrdersMinePage/>
                    <Route path=path!("orders/new") view=NewOrderPage/>
                    <Route path=path!("orders/drafts") view=DraftsPage/>
                    <Route path=path!("orders/:id") ssr=SsrMode::Async view=OrderCardPage/>
                    <Route path=path!("finance") view=crate::finance::components::FinancePage/>
                    <Route path=path!("finance/terms") view=crate::finance::components::TermsPage/>
                    <Route path=path!("finance/orders/:id") ssr=SsrMode::Async view=crate::finance::components::OrderSettlementPage/>
                    <Route path=path!("finance/:entity/:period") view=crate::finance::components::SettlementPage/>
                    <Route path=path!("admin") view=crate::admin::components::AdminHomePage/>
                    <Route path=path!("admin/roles") view=crate::admin::components::RolesPage/>
                    <Route path=path!("admin/staff") view=crate::admin::components::StaffPage/>
                    <Route path=path!("admin/entities") view=crate::admin::components::EntitiesPage/>
                    <Route path=path!("admin/entities/:id") view=crate::admin::components::PriceListPage/>
                    <Route path=path!("admin/catalog") view=crate::admin::components::CatalogAdminPage/>
                    <Route path=path!("admin/services/:id") view=crate::admin::components::ServiceEditPage/>
                    <Route path=path!("admin/residents") view=crate::admin::components::ResidentsAdminPage/>
                    <Route path=path!("admin/audit") view=crate::admin::components::AuditPage/>
                    <Route path=path!("profile") view=StaffProfilePage/>
                    <Route path=path!("chats") view=crate::chat::components::StaffDialoguesPage/>
                    <Route path=path!("chats/:id") ssr=SsrMode::Async view=crate::chat::components::StaffDialoguePage/>
                    <Route path=path!("notifications") view=crate::notifications::components::NotificationsPage/>
                    <Route path=path!("admin/notifications") view=crate::notifications::components::RoleNotificationsPage/>
                </ParentRoute>
                <ParentRoute path=path!("") view=ResidentShell>
                    <Route path=path!("") view=CatalogPage/>
                    <Route path=path!("catalog/:id") view=CategoryPage/>
                    <Route path=path!("services/:id") view=ServicePage/>
                    <Route path=path!("requests") view=RequestsPage/>
                    <Route path=path!("requests/:id") ssr=SsrMode::Async view=RequestPage/>
                    <Route path=path!("requests/:id/pay/:invoice") ssr=SsrMode::Async view=crate::payments::components::PayPage/>
                    <Route path=path!("profile") view=ResidentProfilePage/>
                    <Route path=path!("chats/:id") ssr=SsrMode::Async view=crate::chat::components::ResidentDialoguePage/>
                    <Route path=path!("notifications") view=crate::notifications::components::NotificationsPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// `/staff` opens the first section the role allows.
#[component]
fn StaffHome() -> impl IntoView {
    let home = use_staff()
        .map(|s| s.permissions.home_path())
        .unwrap_or("/staff/profile");
    view! { <Redirect path=home/> }
}
