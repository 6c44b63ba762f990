//! Sign-in pages for staff and residents.

use super::api::{ResidentRequestCode, ResidentSignIn, StaffSignIn};
use crate::ui::ErrorNote;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn StaffSignInPage() -> impl IntoView {
    let action = ServerAction::<StaffSignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let show_password = RwSignal::new(false);
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    view! {
        <main class="auth-page">
            <section class="auth-card">
                <div class="brand">"СУЗ"</div>
                <h1>"Вход для сотрудников"</h1>
                <ActionForm action=action attr:class="form">
                    <input type="hidden" name="next" prop:value=next/>
                    <label class="field">
                        <span>"E-mail"</span>
                        <input type="email" name="email" required autocomplete="username"/>
                    </label>
                    <label class="field">
                        <span>"Пароль"</span>
                        <div class="password-row">
                            <input
                                type=move || if show_password.get() { "text" } else { "password" }
                                name="password"
                                required
                                autocomplete="current-password"
                            />
                            <button
                                type="button"
                                class="link-button"
                                on:click=move |_| show_password.update(|v| *v = !*v)
                            >
                                {move || if show_password.get() { "Скрыть" } else { "Показать" }}
                            </button>
                        </div>
                    </label>
                    <ErrorNote error=error/>
                    <button type="submit" class="primary" disabled=move || action.pending().get()>
                        "Войти"
                    </button>
                </ActionForm>
                <p class="hint">"Вы житель? " <a href="/login">"Вход по номеру телефона"</a></p>
            </section>
        </main>
    }
}

#[component]
pub fn ResidentSignInPage() -> impl IntoView {
    let request = ServerAction::<ResidentRequestCode>::new();
    let sign_in = ServerAction::<ResidentSignIn>::new();
    let phone = RwSignal::new(String::new());
    let sent_to = move || request.value().get().and_then(|r| r.ok());
    let request_error = Signal::derive(move || request.value().get().and_then(|r| r.err()));
    let sign_in_error = Signal::derive(move || sign_in.value().get().and_then(|r| r.err()));
    view! {
        <main class="auth-page resident">
            <section class="auth-card">
                <div class="brand">"Мой дом"</div>
                <h1>"Вход"</h1>
                <ActionForm action=request attr:class="form">
                    <label class="field">
                        <span>"Номер телефона"</span>
                        <input
                            type="tel"
                            name="phone"
                            inputmode="tel"
                            placeholder="+7 900 000-00-00"
                            required
                            autocomplete="tel"
                            on:input=move |ev| phone.set(event_target_value(&ev))
                            prop:value=phone
                        />
                    </label>
                    <ErrorNote error=request_error/>
                    <button type="submit" class=move || if sent_to().is_some() { "secondary" } else { "primary" }
                        disabled=move || request.pending().get()>
                        {move || if sent_to().is_some() { "Отправить код ещё раз" } else { "Получить код" }}
                    </button>
                </ActionForm>
                <Show when=move || sent_to().is_some()>
                    <ActionForm action=sign_in attr:class="form">
                        // The same answer for every phone: who is a resident is nobody's business.
                        <p class="hint">
                            "Если этот номер зарегистрирован в управляющей компании, код отправлен на "
                            {sent_to}
                        </p>
                        <input type="hidden" name="phone" prop:value=phone/>
                        <label class="field">
                            <span>"Код из СМС"</span>
                            <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
                                maxlength="6" required/>
                        </label>
                        <ErrorNote error=sign_in_error/>
                        <button type="submit" class="primary" disabled=move || sign_in.pending().get()>"Войти"</button>
                    </ActionForm>
                </Show>
            </section>
        </main>
    }
}
