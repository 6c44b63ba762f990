//! The resident profile page with «Мои помещения».

use super::api::{my_premises, SelectPremises};
use crate::auth::api::SignOut;
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;

#[component]
pub fn ResidentProfilePage() -> impl IntoView {
    let select = ServerAction::<SelectPremises>::new();
    let premises = Resource::new(move || select.version().get(), |_| my_premises());
    let sign_out = ServerAction::<SignOut>::new();
    let select_error = Signal::derive(move || select.value().get().and_then(|r| r.err()));
    view! {
        <header class="top-bar"><h1>"Профиль"</h1></header>
        <section class="card">
            <h2>"Мои помещения"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match premises.await {
                        Ok(items) => view! {
                            <ul class="choice-list">
                                {items.into_iter().map(|p| {
                                    let id = p.premises_id;
                                    view! {
                                        <li>
                                            <button
                                                class=if p.selected { "choice selected" } else { "choice" }
                                                aria-pressed=if p.selected { "true" } else { "false" }
                                                on:click=move |_| { select.dispatch(SelectPremises { premises_id: id }); }
                                            >
                                                <span class="radio"></span>
                                                {p.address}
                                            </button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            <ErrorNote error=select_error/>
        </section>
        <crate::payments::components::SavedCardsSection/>
        <section class="card">
            <ActionForm action=sign_out>
                <button type="submit" class="secondary wide">"Выйти"</button>
            </ActionForm>
        </section>
    }
}
