//! The order form of a service, rendered from its field definitions. Values live in one
//! signal; the same `check_form` runs here before sending and on the server.

use super::form::{FieldErrors, FieldKind, FormField, RawValues};
use leptos::prelude::*;

fn value_of(values: &RawValues, key: &str) -> String {
    values
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn set_value(values: RwSignal<RawValues>, key: &str, value: String) {
    values.update(|v| {
        v.retain(|(k, _)| k != key);
        v.push((key.to_owned(), value));
    });
}

fn toggle_value(values: RwSignal<RawValues>, key: &str, choice: &str, on: bool) {
    values.update(|v| {
        v.retain(|(k, c)| !(k == key && c == choice));
        if on {
            v.push((key.to_owned(), choice.to_owned()));
        }
    });
}

/// All fields of a form. With `photos`, photo fields take pictures (the resident app);
/// without, they say the resident attaches them (the staff order form).
#[component]
pub fn FormFields(
    fields: Vec<FormField>,
    values: RwSignal<RawValues>,
    errors: RwSignal<FieldErrors>,
    #[prop(optional)] photos: bool,
) -> impl IntoView {
    fields
        .into_iter()
        .map(|f| view! { <FieldInput field=f values=values errors=errors photos=photos/> })
        .collect_view()
}

/// Chosen photos upload at once; the field keeps their upload ids.
#[component]
fn PhotoInput(
    key: String,
    values: RwSignal<RawValues>,
    errors: RwSignal<FieldErrors>,
) -> impl IntoView {
    let uploaded = RwSignal::new(Vec::<(i64, String)>::new());
    let busy = RwSignal::new(0usize);
    #[cfg(not(feature = "hydrate"))]
    let _ = errors;
    let on_change = {
        let key = key.clone();
        move |ev: leptos::ev::Event| {
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast;
                let Some(input) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                else {
                    return;
                };
                let Some(files) = input.files() else {
                    return;
                };
                for i in 0..files.length() {
                    let Some(file) = files.get(i) else { continue };
                    let key = key.clone();
                    busy.update(|n| *n += 1);
                    leptos::task::spawn_local(async move {
                        let outcome = crate::requests::photos::upload_photo(file).await;
                        errors.update(|e| e.retain(|(k, _)| *k != key));
                        match outcome {
                            Ok((id, name)) => {
                                values.update(|v| v.push((key.clone(), id.to_string())));
                                uploaded.update(|u| u.push((id, name)));
                            }
                            Err(m) => errors.update(|e| e.push((key.clone(), m))),
                        }
                        busy.update(|n| *n = n.saturating_sub(1));
                    });
                }
                input.set_value("");
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&ev, &key);
        }
    };
    let remove = move |id: i64, key: String| {
        let id_text = id.to_string();
        values.update(|v| v.retain(|(k, x)| !(*k == key && *x == id_text)));
        uploaded.update(|u| u.retain(|(i, _)| *i != id));
    };
    view! {
        <div class="photos">
            {move || uploaded.get().into_iter().map(|(id, name)| {
                let k = key.clone();
                view! {
                    <figure class="photo">
                        <img src=crate::requests::photos::photo_url(id) alt=name/>
                        <button type="button" class="remove" aria-label="Убрать фото" on:click=move |_| remove(id, k.clone())>"×"</button>
                    </figure>
                }
            }).collect_view()}
            <input type="file" class="photo-input" accept="image/*" multiple aria-label="Добавить фото" on:change=on_change/>
            {move || (busy.get() > 0).then(|| view! { <span class="muted small">"Загружаем фото…"</span> })}
        </div>
    }
}

#[component]
fn FieldInput(
    field: FormField,
    values: RwSignal<RawValues>,
    errors: RwSignal<FieldErrors>,
    photos: bool,
) -> impl IntoView {
    let key = field.key.clone();
    let error = {
        let key = key.clone();
        move || errors.with(|e| e.iter().find(|(k, _)| *k == key).map(|(_, m)| m.clone()))
    };
    let current = {
        let key = key.clone();
        move || values.with(|v| value_of(v, &key))
    };
    let on_text = {
        let key = key.clone();
        move |ev: leptos::ev::Event| set_value(values, &key, event_target_value(&ev))
    };
    let input = match field.kind {
        FieldKind::Text => view! { <input type="text" prop:value=current on:input=on_text/> }.into_any(),
        FieldKind::Multiline => view! { <textarea rows="3" prop:value=current on:input=on_text></textarea> }.into_any(),
        FieldKind::Number => view! { <input type="number" inputmode="numeric" prop:value=current on:input=on_text/> }.into_any(),
        FieldKind::DateTime => view! { <input type="datetime-local" prop:value=current on:input=on_text/> }.into_any(),
        FieldKind::Choice => view! {
            <select on:change=on_text prop:value=current>
                <option value="">"— выберите —"</option>
                {field.choices.iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
            </select>
        }
        .into_any(),
        FieldKind::MultiChoice => field
            .choices
            .iter()
            .map(|c| {
                let (k1, k2, c1, c2) = (key.clone(), key.clone(), c.clone(), c.clone());
                view! {
                    <label class="check">
                        <input type="checkbox"
                            prop:checked=move || values.with(|v| v.iter().any(|(k, x)| *k == k1 && *x == c1))
                            on:change=move |ev| toggle_value(values, &k2, &c2, event_target_checked(&ev))/>
                        {c.clone()}
                    </label>
                }
            })
            .collect_view()
            .into_any(),
        FieldKind::Checkbox => {
            let k = key.clone();
            view! {
                <input type="checkbox" prop:checked=move || matches!(current().as_str(), "on" | "Да")
                    on:change=move |ev| set_value(values, &k, if event_target_checked(&ev) { "on".into() } else { String::new() })/>
            }
            .into_any()
        }
        FieldKind::Photo if photos => view! { <PhotoInput key=key.clone() values=values errors=errors/> }.into_any(),
        FieldKind::Photo => view! { <span class="muted small">"Фото прикладывает клиент в приложении"</span> }.into_any(),
    };
    let label = view! { <span>{field.label.clone()}{field.required.then_some(" *")}</span> };
    let error =
        move || error().map(|m| view! { <span class="field-error" role="alert">{m}</span> });
    match field.kind {
        // A group of controls is not one label: tapping a photo must not open the picker.
        FieldKind::MultiChoice | FieldKind::Photo => view! {
            <div class="field group" role="group" data-field=key.clone()>{label}{input}{error}</div>
        }
        .into_any(),
        _ => view! {
            <label class="field" data-field=key.clone()>{label}{input}{error}</label>
        }
        .into_any(),
    }
}
