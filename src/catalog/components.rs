//! The catalog «Сервис» as residents see it.

use super::api::catalog_categories;
use crate::ui::{LoadError, Loading};
use leptos::prelude::*;

#[component]
pub fn CatalogPage() -> impl IntoView {
    let categories = Resource::new(|| (), |_| catalog_categories());
    view! {
        <header class="top-bar"><h1>"Сервис"</h1></header>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match categories.await {
                    Ok(tiles) => view! {
                        <div class="tiles">
                            {tiles.into_iter().map(|c| view! {
                                <div class="tile" style=format!("background:{}", c.background)>
                                    <span class="tile-icon">{c.icon}</span>
                                    <span class="tile-name">{c.name}</span>
                                    <span class="tile-count">{format!("Услуг: {}", c.services)}</span>
                                </div>
                            }).collect_view()}
                        </div>
                    }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
