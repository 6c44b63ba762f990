//! The staff CRM layout: navigation by permission, the signed-in person, sign-out.

use super::{LoadError, Loading};
use crate::auth::api::{whoami, SignOut};
use crate::auth::model::{StaffUser, Viewer};
use crate::auth::permissions::Action;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// The signed-in staff member, provided to every staff page.
pub type StaffContext = StaffUser;

#[component]
pub fn StaffShell() -> impl IntoView {
    // On the server the viewer is the request's session, known at once, and it travels to
    // the browser with the page. Rendering the layout outside a `Suspense` matters: a
    // `Suspense` walks its children's closures again and again, and every walk would build
    // the page below anew — with its resources, queries and hydration data each time.
    let known = SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            Some(crate::auth::session::current_viewer())
        }
        #[cfg(not(feature = "ssr"))]
        {
            None::<Result<Option<Viewer>, AppError>>
        }
    })
    .into_inner();
    match known {
        Some(viewer) => staff_layout(viewer),
        // Opened by navigating inside the browser (after signing in): ask the server.
        None => {
            let me = Resource::new(|| (), |_| whoami());
            view! {
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move { staff_layout(me.await) })}
                </Suspense>
            }
            .into_any()
        }
    }
}

fn staff_layout(viewer: Result<Option<Viewer>, AppError>) -> AnyView {
    match viewer {
        Ok(Some(Viewer::Staff(staff))) => {
            provide_context::<StaffContext>(staff.clone());
            view! { <StaffLayout staff=staff/> }.into_any()
        }
        Ok(_) => view! { <LoadError error=AppError::Unauthorized/> }.into_any(),
        Err(e) => view! { <LoadError error=e/> }.into_any(),
    }
}

#[component]
fn StaffLayout(staff: StaffUser) -> impl IntoView {
    let p = staff.permissions.clone();
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <crate::live::LiveProvider>
        <div class="staff-app">
            <aside class="sidebar">
                <div class="brand">"СУЗ"<crate::notifications::components::Bell href="/staff/notifications"/></div>
                <nav>
                    {p.allows(Action::ViewAssignedOrders).then(|| view! {
                        <div class="nav-group">
                            <div class="nav-title">"Заказы"</div>
                            {p.allows(Action::ViewAllOrders).then(|| view! {
                                <A href="/staff/orders" exact=true>"Все"</A>
                            })}
                            <A href="/staff/orders/mine">"Назначенные мне"</A>
                            {p.allows(Action::EditOrders).then(|| view! {
                                <A href="/staff/orders/new">"Новый заказ"</A>
                                <A href="/staff/orders/drafts">"Черновики"</A>
                            })}
                        </div>
                    })}
                    {p.allows(Action::ClientsChat).then(|| view! {
                        <div class="nav-group">
                            <div class="nav-title">"Клиенты"</div>
                            <A href="/staff/chats">"Чаты с клиентами"</A>
                        </div>
                    })}
                    {p.allows(Action::Finance).then(|| view! {
                        <div class="nav-group">
                            <div class="nav-title">"Финансы"</div>
                            <A href="/staff/finance">"Взаиморасчеты"</A>
                        </div>
                    })}
                    {p.allows(Action::Administer).then(|| view! {
                        <div class="nav-group">
                            <div class="nav-title">"Администрирование"</div>
                            <A href="/staff/admin" exact=true>"Настройки"</A>
                            <A href="/staff/admin/notifications">"Уведомления ролей"</A>
                        </div>
                    })}
                </nav>
                <div class="me">
                    <A href="/staff/profile">
                        <div class="me-name">{staff.full_name.clone()}</div>
                        <div class="me-role">{staff.role_name.clone()}</div>
                    </A>
                    <ActionForm action=sign_out>
                        <button type="submit" class="link-button">"Выйти"</button>
                    </ActionForm>
                </div>
            </aside>
            <main class="staff-main">
                <Outlet/>
            </main>
        </div>
        </crate::live::LiveProvider>
    }
}

/// The signed-in staff member inside a staff page.
pub fn use_staff() -> Option<StaffUser> {
    use_context::<StaffContext>()
}

/// A section that exists in the navigation but whose screens belong to a later release.
#[component]
pub fn SectionPlaceholder(title: &'static str, action: Action) -> impl IntoView {
    let allowed = use_staff().is_some_and(|s| s.permissions.allows(action));
    view! {
        <header class="page-header"><h1>{title}</h1></header>
        {if allowed {
            view! { <p class="muted">"Раздел в разработке."</p> }.into_any()
        } else {
            view! { <LoadError error=AppError::Forbidden/> }.into_any()
        }}
    }
}

/// The staff member's own page.
#[component]
pub fn StaffProfilePage() -> impl IntoView {
    let staff = use_staff();
    view! {
        <header class="page-header"><h1>"Профиль"</h1></header>
        {staff.map(|s| view! {
            <dl class="facts">
                <dt>"Имя"</dt><dd>{s.full_name}</dd>
                <dt>"E-mail"</dt><dd>{s.email}</dd>
                <dt>"Роль"</dt><dd>{s.role_name}</dd>
            </dl>
        })}
    }
}
