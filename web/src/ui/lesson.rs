//! The lesson beside the simulator: the step's text, its quiz, back and next.

use yew::prelude::*;

use crate::model::{Action, Model};

/// The lesson beside the simulator: the step's text, its quiz (predict, then reveal), back/next.
pub(super) fn lesson_panel(model: &Model, dispatch: &Callback<Action>) -> Html {
    let Some(state) = model.lesson else { return html! {} };
    let step = state.current();
    let n = state.lesson.steps.len();
    let quiz = step.quiz.as_ref().map(|q| {
        let verdict = state.answer.map(|a| {
            if a == q.answer {
                html! { <p class="verdict ok" role="status" data-testid="verdict">{ "✓ Right." }</p> }
            } else {
                html! { <p class="verdict bad" role="status" data-testid="verdict">{ format!("✗ Not quite: the answer is “{}”.", q.choices[q.answer]) }</p> }
            }
        });
        html! {
            <div class="quiz">
                <fieldset>
                    <legend>{ q.question }</legend>
                    { for q.choices.iter().enumerate().map(|(k, c)| {
                        let class = match state.answer {
                            Some(_) if k == q.answer => "choice right",
                            Some(a) if a == k => "choice wrong",
                            _ => "choice",
                        };
                        html! {
                            <button class={class} data-testid={format!("choice-{k}")} disabled={state.answer.is_some()}
                                onclick={dispatch.reform(move |_| Action::LessonAnswer(k))}>{ *c }</button>
                        }
                    }) }
                </fieldset>
                if state.answer.is_none() {
                    <p class="muted small">{ "Choose an answer: the simulator then shows what happens." }</p>
                }
                { for verdict }
                if state.answer.is_some() {
                    <p class="why" data-testid="why">{ q.why }</p>
                }
            </div>
        }
    });
    html! {
        <section class="panel lesson" aria-label="Lesson" data-testid="lesson">
            <p class="muted small" data-testid="lesson-progress">{ format!("{} · step {} of {n}", state.lesson.title, state.step + 1) }</p>
            <h2>{ step.title }</h2>
            { for step.text.split("\n\n").map(|p| html! { <p>{ p }</p> }) }
            { for quiz }
            <div class="lesson-nav">
                <button class="btn" data-testid="lesson-back" disabled={state.step == 0} onclick={dispatch.reform(|_| Action::LessonStep(-1))}>{ "‹ Previous step" }</button>
                <button class="btn" data-testid="lesson-next" disabled={state.step + 1 == n} onclick={dispatch.reform(|_| Action::LessonStep(1))}>{ "Next step ›" }</button>
                <button class="btn small" onclick={dispatch.reform(|_| Action::Lesson(None))}>{ "Close the lesson" }</button>
            </div>
        </section>
    }
}
