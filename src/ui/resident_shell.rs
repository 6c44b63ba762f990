//! The resident app layout: content above, bottom navigation «Сервис», «Заявки», «Профиль».

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

#[component]
pub fn ResidentShell() -> impl IntoView {
    view! {
        <crate::live::LiveProvider>
        <div class="resident-app">
            <div class="resident-bell"><crate::notifications::components::Bell href="/notifications"/></div>
            <div class="resident-content">
                <Outlet/>
            </div>
            <nav class="bottom-nav">
                <A href="/" exact=true><span class="icon">"🛠"</span><span>"Сервис"</span></A>
                <A href="/requests"><span class="icon">"📋"</span><span>"Заявки"</span></A>
                <A href="/profile"><span class="icon">"👤"</span><span>"Профиль"</span></A>
            </nav>
        </div>
        </crate::live::LiveProvider>
    }
}
