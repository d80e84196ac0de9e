//! What a server's answers tell of how it counts its budgets (see `meter`), and the switch to
//! pacing by it.

use super::meter::{MARGIN, Meter, Model, PERIOD, Window};
use super::{Inner, ServerState};

impl Inner {
    /// Learn how the server counts from one answer (see `meter`): a reset far longer than a
    /// bucket would need to refill what the server says is spent means a window, and two such
    /// ends measured apart that agree, a fixed one; a 429 the bucket did not expect, for a
    /// request granted under a known limit, means a window too (LiteLLM's proxy sends no
    /// reset). Returns whether pacing changed.
    pub(super) fn infer(&mut self, state: &ServerState, measured: i128, now: i128) -> bool {
        const TOLERANCE: i128 = 1_000_000_000;
        let mut learned = None;
        let figures = [
            (state.limit_requests, state.remaining_requests, state.reset_requests),
            (state.limit_tokens, state.remaining_tokens, state.reset_tokens),
        ];
        for (limit, remaining, reset) in figures {
            let (Some(limit), Some(remaining), Some(reset)) = (limit, remaining, reset) else { continue };
            if limit == 0 {
                continue;
            }
            let spent = i128::from(limit.saturating_sub(remaining));
            let refill = PERIOD * spent / i128::from(limit);
            let reset = reset.as_nanos().min(i64::MAX as u128) as i128;
            // Resets are written to the millisecond (Anthropic's to the second): a bucket's is
            // never several seconds longer than its refill.
            if reset <= refill + 5 * TOLERANCE || reset > PERIOD + 2 * MARGIN {
                continue;
            }
            let end = measured + reset;
            let fixed = self.window_end.is_some_and(|(seen, known)| {
                measured - seen >= TOLERANCE && (end - known).abs() <= TOLERANCE
            });
            if self.window_end.is_none_or(|(seen, _)| measured >= seen) {
                self.window_end = Some((measured, end));
            }
            learned = Some(if fixed || self.model == Model::FixedWindow {
                Model::FixedWindow
            } else {
                Model::SlidingWindow
            });
            if let (true, Some((_, end))) = (learned == Some(Model::FixedWindow), self.window_end) {
                for meter in [self.reqs.as_mut(), self.tokens.as_mut()].into_iter().flatten() {
                    if let Meter::Window(w) = meter {
                        w.closes_at(end, now);
                    }
                }
            }
        }
        let unexpected = state.rate_limited && self.known_since.is_some_and(|since| measured >= since);
        if learned.is_none() && unexpected && self.model == Model::Bucket {
            learned = Some(Model::SlidingWindow);
        }
        match learned {
            Some(model) if model != self.model => {
                self.count_as(model, now);
                true
            }
            _ => false,
        }
    }

    /// Pace as a server counting `model` does, from the grants of the last window on.
    fn count_as(&mut self, model: Model, now: i128) {
        tracing::debug!("the server counts its limits as a {}", model.name());
        let recent = std::mem::take(&mut self.recent);
        let window_end = self.window_end.map(|(_, end)| end);
        let into_window = |meter: &mut Meter, units: &dyn Fn(u32) -> i128| {
            if let Meter::Bucket(b) = meter {
                *meter = Meter::Window(Window::new(b.cap, recent.iter().map(|&(at, t)| (at, units(t)))));
            }
            if let (Meter::Window(w), Some(end), Model::FixedWindow) = (&mut *meter, window_end, model) {
                w.closes_at(end, now);
            }
        };
        if let Some(meter) = self.reqs.as_mut() {
            into_window(meter, &|_| 1);
        }
        if let Some(meter) = self.tokens.as_mut() {
            into_window(meter, &|tokens| i128::from(tokens));
        }
        self.gov = None;
        self.model = model;
        self.stats.model = Some(model);
    }
}
