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

/// All fields of a form.
#[component]
pub fn FormFields(
    fields: Vec<FormField>,
    values: RwSignal<RawValues>,
    errors: RwSignal<FieldErrors>,
) -> impl IntoView {
    fields
        .into_iter()
        .map(|f| view! { <FieldInput field=f values=values errors=errors/> })
        .collect_view()
}

#[component]
fn FieldInput(
    field: FormField,
    values: RwSignal<RawValues>,
    errors: RwSignal<FieldErrors>,
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
        FieldKind::Photo => view! { <span class="muted small">"Фото прикладывает клиент в приложении"</span> }.into_any(),
    };
    let wrapper = if field.kind == FieldKind::MultiChoice {
        "field group"
    } else {
        "field"
    };
    view! {
        <label class=wrapper data-field=key.clone()>
            <span>{field.label.clone()}{field.required.then_some(" *")}</span>
            {input}
            {move || error().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
        </label>
    }
}
