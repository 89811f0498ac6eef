//! Render smoke tests: every frame of a walk through a scenario draws without panicking on
//! ratatui's TestBackend, at a roomy (120×40), a small (80×24), the smallest (60×16), a large
//! and a too-small (20×5) size, in colour and without; and a few things every frame must show.

mod common;

use std::path::Path;

use deltascope::app::{Action, ColorMode, Config, Focus, State, update};
use deltascope::scenario::{self, Scenario, default_scenario};
use deltascope::timeline::Node;
use deltascope::ui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: [(u16, u16); 5] = [(120, 40), (80, 24), (20, 5), (60, 16), (200, 60)];

fn screen(terminal: &Terminal<TestBackend>) -> String {
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn draw(terminal: &mut Terminal<TestBackend>, state: &State) -> String {
    terminal.draw(|f| view(state, f)).expect("draws");
    screen(terminal)
}

/// Walk every event of the first step (and into the second), visiting every node with
/// the maps focused and the cursor moved around, drawing after each action.
fn walk(scenario: Scenario, color: ColorMode, (w, h): (u16, u16)) -> usize {
    walk_with(scenario, color, (w, h), true)
}

fn walk_with(scenario: Scenario, color: ColorMode, (w, h): (u16, u16), thorough: bool) -> usize {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut state = State::new(scenario, Config { color });
    let nodes = state.nodes().len();
    let per_step = state.timeline.events_per_step();
    let mut frames = 0;
    let mut act = |state: &mut State, action: Action| {
        update(state, action);
        draw(&mut terminal, state);
        frames += 1;
    };
    for _ in 0..=per_step {
        act(&mut state, Action::NextEvent);
        for _ in 0..nodes {
            act(&mut state, Action::NextLayer);
            let actions: &[Action] = if thorough {
                &[
                    Action::NextMap,
                    Action::CursorDown,
                    Action::CursorRight,
                    Action::NextChannel,
                    Action::NextMap,
                    Action::CursorDown,
                    Action::InspectorDown,
                ]
            } else {
                &[Action::NextMap, Action::CursorDown]
            };
            for &a in actions {
                act(&mut state, a);
            }
        }
        act(&mut state, Action::Follow);
    }
    for a in [
        Action::ToggleFocus,
        Action::ToggleHelp,
        Action::OverlayDown,
        Action::CloseOverlay,
        Action::ToggleCheck,
        Action::NextLayer,
        Action::CloseOverlay,
        Action::End,
        Action::RunMore(2),
        Action::PrevStep,
        Action::Start,
    ] {
        act(&mut state, a);
    }
    frames
}

#[test]
fn every_frame_of_the_default_scenario_renders_at_every_size() {
    for size in SIZES {
        assert!(walk(default_scenario(), ColorMode::TrueColor, size) > 100);
    }
    for size in [(120, 40), (80, 24)] {
        walk(default_scenario(), ColorMode::Mono, size);
    }
}

/// Every bundled scenario loads (one that does not fails the test) and draws: its first
/// frame names it, says how many steps it has and lists every layer with its output shape;
/// `End` reaches its last step; and a walk through every event of a step draws.
#[test]
fn every_bundled_scenario_renders() {
    for path in common::bundled_files() {
        let s = scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = &s.name;
        let last = s.steps - 1;
        let range = if last == 0 {
            "0".to_string()
        } else {
            format!("0–{last}")
        };
        let shapes = common::output_shapes(&s.model);
        for (w, h) in [(120, 40), (80, 24)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            let mut state = State::new(s.clone(), Config::default());
            let text = draw(&mut terminal, &state);
            let header = text.lines().next().unwrap();
            assert!(
                header.contains(&format!(" {name} "))
                    && header.contains(&format!("step 0 ({range})")),
                "{name} at {w}×{h}: {header}"
            );
            let pipeline = boxed(&text, "pipeline");
            for (layer, shape) in s.model.layers.iter().zip(&shapes) {
                let dims = shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join("×");
                // "→ conv1 4×8×8": the name and the shape lead the layer's row.
                let row = |l: &String| {
                    let mut words = l.trim_start_matches(['→', ' ']).split_whitespace();
                    (words.next() == Some(&layer.name)) && (words.next() == Some(&dims))
                };
                assert!(
                    pipeline.iter().any(row),
                    "{name} at {w}×{h}: the pipeline lacks `{} {dims}`:\n{text}",
                    layer.name
                );
            }
            update(&mut state, Action::End);
            let text = draw(&mut terminal, &state);
            let header = text.lines().next().unwrap();
            assert!(
                header.contains(&format!("step {last} ({range})")),
                "{name} at {w}×{h} after End: {header}"
            );
        }
        // Keep the suite quick: big networks are walked by hand, not here.
        if State::new(s.clone(), Config::default())
            .timeline
            .numbers_per_step()
            > 200_000
        {
            eprintln!("{name}: not walked (too big for the suite)");
            continue;
        }
        for size in [(120, 40), (80, 24)] {
            walk_with(s.clone(), ColorMode::Indexed, size, false);
        }
    }
}

#[test]
fn too_small_a_terminal_gets_a_message() {
    let mut terminal = Terminal::new(TestBackend::new(20, 5)).unwrap();
    let state = State::new(default_scenario(), Config::default());
    let text = draw(&mut terminal, &state);
    assert!(text.contains("too small"), "{text}");
    assert!(text.replace('\n', "").contains("60×16"), "{text}");
}

#[test]
fn the_first_screen_shows_pipeline_maps_inspector_and_key_hints() {
    for (w, h) in [(120, 40), (80, 24)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let state = State::new(default_scenario(), Config::default());
        let text = draw(&mut terminal, &state);
        for needle in [
            "deltascope",
            "pipeline",
            "conv1",
            "pool2",
            "loss",
            "n/p",
            "? help",
            "q quit",
            // The scenario's description, where a newcomer looks first.
            "about mean_pool_classic",
            "The classic question",
        ] {
            assert!(text.contains(needle), "{w}×{h} lacks {needle:?}:\n{text}");
        }
        assert!(text.contains("forward conv1"), "{text}");
        // The first key that moves something gives the inspector back.
        let mut state = state;
        update(&mut state, Action::NextEvent);
        let text = draw(&mut terminal, &state);
        assert!(text.contains("inspector"), "{text}");
        assert!(!text.contains("about mean_pool_classic"), "{text}");
    }
}

#[test]
fn delta_maps_show_only_once_computed() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut state = State::new(default_scenario(), Config::default());
    let text = draw(&mut terminal, &state);
    assert!(text.contains("δ maps are not known yet"), "{text}");
    assert!(!text.contains("δz"), "{text}");
    let l = state.timeline.layer_count();
    for _ in 0..2 * l {
        update(&mut state, Action::NextEvent);
    }
    let text = draw(&mut terminal, &state);
    assert!(
        text.contains("δz") && text.contains("δx") && text.contains("∂w"),
        "{text}"
    );
    assert!(!text.contains("not known yet"), "{text}");
}

#[test]
fn the_inspector_lists_rot180_terms_for_a_conv1_delta_input_cell() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut state = State::new(default_scenario(), Config::default());
    let l = state.timeline.layer_count();
    for _ in 0..2 * l {
        update(&mut state, Action::NextEvent);
    }
    update(&mut state, Action::ToggleFocus);
    assert_eq!(state.focus, Focus::Map);
    for a in [
        Action::CursorDown,
        Action::CursorDown,
        Action::CursorDown,
        Action::CursorRight,
        Action::CursorRight,
    ] {
        update(&mut state, a);
    }
    let text = draw(&mut terminal, &state);
    let traced = state.timeline.step(0).unwrap().trace.layers[0]
        .1
        .tensor(deltascope::engine::TensorName::DeltaInput)
        .unwrap()[[0, 3, 2]];
    assert!(
        text.contains(&format!(
            "conv1.δx[0,3,2] = {}",
            deltascope::explain::exact(traced)
        )),
        "{text}"
    );
    assert!(text.contains("rot180[2,2]"), "{text}");
    assert!(text.contains("equals the traced value"), "{text}");
}

#[test]
fn monochrome_frames_use_no_colour() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut state = State::new(
        default_scenario(),
        Config {
            color: ColorMode::Mono,
        },
    );
    for _ in 0..8 {
        update(&mut state, Action::NextEvent);
    }
    state.selected = Node::Layer(0);
    draw(&mut terminal, &state);
    let buf = terminal.backend().buffer();
    for cell in buf.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
    let text = screen(&terminal);
    assert!(
        text.contains('▓') || text.contains('█'),
        "glyph shading:\n{text}"
    );
    assert!(
        text.contains("+░") || text.contains("-░") || text.contains("+▒") || text.contains("-▒"),
        "signs:\n{text}"
    );
}

// What a new user found, each pinned at the size they saw it.

/// The text of the frame at the script's last `snap`, as `deltascope replay` prints it.
fn shot(scenario: Scenario, keys: &str, (w, h): (u16, u16), color: ColorMode) -> String {
    use deltascope::replay::{self, FrameFormat, ReplayOptions, script};
    let lines = script::parse(&format!("{keys}\nsnap\n")).expect("the script parses");
    let frames = replay::replay(
        scenario,
        &lines,
        &ReplayOptions {
            size: (w, h),
            format: FrameFormat::Text,
            only_snaps: true,
            config: Config { color },
            compare: None,
        },
    );
    frames.last().expect("a frame").body.clone()
}

fn bundled(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.json"));
    scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text inside the box whose top border holds `title`: the rows between its
/// borders, without them.
fn boxed(text: &str, title: &str) -> Vec<String> {
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let (top, start) = lines
        .iter()
        .enumerate()
        .find_map(|(y, l)| {
            let s: String = l.iter().collect();
            let at = s.find(title)?;
            let col = s[..at].chars().count();
            let corner = (0..col).rev().find(|&x| l[x] == '┌')?;
            Some((y, corner))
        })
        .unwrap_or_else(|| panic!("no box titled {title:?}:\n{text}"));
    let end = (start + 1..lines[top].len())
        .find(|&x| lines[top][x] == '┐')
        .expect("a top-right corner");
    let mut out = Vec::new();
    for l in &lines[top + 1..] {
        if l.get(start) == Some(&'└') {
            break;
        }
        out.push(l[start + 1..end.min(l.len())].iter().collect());
    }
    out
}

#[test]
fn an_inspector_term_too_long_for_one_line_takes_two_and_nothing_is_cut() {
    let keys = "n*8\nEnter\nj*4\nl*4";
    let small = shot(default_scenario(), keys, (80, 24), ColorMode::TrueColor);
    let inspector = boxed(&small, "conv1.δx[0,4,4] =");
    let at = inspector
        .iter()
        .position(|l| l.contains("w[0,0,0,0] · δz[0,4,4]"))
        .unwrap_or_else(|| panic!("the first term:\n{small}"));
    assert!(inspector[at].contains("k=0 rot180[2,2]"), "{small}");
    assert!(
        inspector[at + 1].contains("= 0.15 × 0.03149 = 0.004724"),
        "{small}"
    );
    assert!(!small.contains("k=│") && !small.contains(" k │"), "{small}");
    // Where it fits, one line per term, the note first.
    let roomy = shot(default_scenario(), keys, (120, 40), ColorMode::TrueColor);
    assert!(
        roomy
            .lines()
            .any(|l| l.contains("k=0 rot180[2,2] w[0,0,0,0] · δz[0,4,4] = 0.15 × 0.03149")),
        "{roomy}"
    );
}

#[test]
fn overlays_fit_the_terminal_and_wrap_their_text() {
    let s = default_scenario();
    let description = s.description.clone().unwrap();
    let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    for size in [(80, 24), (120, 40)] {
        let text = shot(s.clone(), "?", size, ColorMode::TrueColor);
        let inside = boxed(&text, "keys (? or Esc closes)");
        assert!(
            inside
                .iter()
                .all(|l| l.chars().count() + 2 <= size.0 as usize)
        );
        // Every word of the description is there whole, in order.
        let shown = words(&inside.join(" "));
        let want = words(&description);
        let at = shown
            .iter()
            .position(|w| *w == want[0])
            .expect("the description");
        assert_eq!(&shown[at..at + want.len()], &want[..], "{text}");
        let end = shot(s.clone(), "?\nj*100", size, ColorMode::TrueColor);
        assert!(
            end.contains("! marks a NaN or ±inf"),
            "the help explains ! cells:\n{end}"
        );
        let check = shot(s.clone(), "x", size, ColorMode::TrueColor);
        let inside = boxed(&check, "gradient check").join(" ");
        assert!(
            words(&inside)
                .join(" ")
                .contains("tolerance 1.0e-6, with the parameters of step 0"),
            "{check}"
        );
        assert!(check.contains("max abs err  max rel err"), "{check}");
        let footer = check.lines().last().unwrap();
        assert!(
            footer.contains("Tab/←→ layer") && footer.contains("j/k scroll"),
            "{footer}"
        );
    }
}

#[test]
fn kernel_gradients_are_rows_per_kernel_with_whole_labels() {
    let s = bundled("digit_classifier");
    for size in [(80, 24), (120, 40)] {
        let text = shot(s.clone(), "n*8\nm", size, ColorMode::TrueColor);
        let main = boxed(&text, "conv2 ·").join("\n");
        assert!(main.contains("▸∂w"), "{text}");
        for label in ["k0 ", "k1 ", "c0", "c1", "c2", "c3"] {
            assert!(main.contains(label), "{size:?} lacks {label:?}:\n{text}");
        }
        assert!(!main.contains("k0c"), "no label is cut mid-name:\n{text}");
    }
    // The kernels page by c/C: kernel 7 is reached and named.
    let text = shot(s, "n*8\nm\nc*29", (80, 24), ColorMode::TrueColor);
    assert!(text.contains("k7"), "{text}");
}

#[test]
fn huge_values_are_compact_and_whole() {
    let s = bundled("diverging");
    let text = shot(s.clone(), "n*7\n]*6", (80, 24), ColorMode::Mono);
    // The exact value in a compact form, not forty digits.
    let title = text
        .lines()
        .find(|l| l.contains("conv1.w′[0,0,0,0] = "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        title.contains("= -7.00712956253") && title.contains("e95 "),
        "{title}"
    );
    assert!(text.contains("4.298 → 4.267e129"), "{text}");
    // Positive and negative cells of the same size both print their number.
    let text = shot(s.clone(), "n*7\n]*7", (80, 24), ColorMode::Mono);
    assert!(text.contains(" 7e287") && text.contains("-2e289"), "{text}");
    // Gradients near 1e289 have a finite norm (a sum of their squares would overflow).
    assert!(text.contains("‖∂w‖ 1.3e290"), "{text}");
    assert!(!text.contains("⇑explod│"), "{text}");
}

#[test]
fn without_colour_map_labels_stay() {
    for size in [(80, 24), (120, 40)] {
        let text = shot(default_scenario(), "n*8", size, ColorMode::Mono);
        assert!(
            text.contains("k0") && text.contains("k1"),
            "{size:?}:\n{text}"
        );
    }
}

#[test]
fn a_short_pane_keeps_the_cursors_band_with_its_titles_and_names_what_it_leaves_out() {
    let text = shot(default_scenario(), "n*8", (80, 24), ColorMode::TrueColor);
    let main = boxed(&text, "conv1 ·");
    assert!(
        main.iter().any(|l| l.contains("δz") && l.contains("▸δx")),
        "{text}"
    );
    assert!(
        main.iter().any(|l| l.contains("↓ more: ∂w ∂b  (m)")),
        "{text}"
    );
    assert!(
        main.iter().any(|l| l.starts_with("↑ above: x w b z a")),
        "{text}"
    );
}

#[test]
fn steps_are_numbered_from_0_and_say_how_many() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut state = State::new(default_scenario(), Config::default());
    update(&mut state, Action::End);
    let text = draw(&mut terminal, &state);
    assert!(text.contains("step 2 (0–2)"), "{text}");
    update(&mut state, Action::NextEvent);
    assert!(
        state
            .status
            .as_deref()
            .unwrap()
            .contains("end of step 2, the last of steps 0–2"),
        "{:?}",
        state.status
    );
    // The smallest terminal still shows the loss.
    let text = shot(default_scenario(), "n*8", (60, 16), ColorMode::TrueColor);
    assert!(
        text.lines().next().unwrap().contains("L = 0.5029"),
        "{text}"
    );
}

#[test]
fn pool_masks_are_named_for_their_kind() {
    let text = shot(
        default_scenario(),
        "n*5\nM*2",
        (80, 24),
        ColorMode::TrueColor,
    );
    assert!(text.contains("▸1/m 2×2×2 = 0.25"), "{text}");
    let text = shot(
        default_scenario(),
        "n*5\nEnter",
        (80, 24),
        ColorMode::TrueColor,
    );
    assert!(
        text.replace("│\n│", " ").contains("1/m = 1/4 (2×2 window)"),
        "{text}"
    );
    let text = shot(
        bundled("max_pool_switches"),
        "n*5\nM*2",
        (120, 40),
        ColorMode::TrueColor,
    );
    assert!(text.contains("pool2.switch[0,0,0]"), "{text}");
    // A cell that is no window's switch says so.
    let text = shot(
        bundled("max_pool_switches"),
        "n*5",
        (120, 40),
        ColorMode::TrueColor,
    );
    assert!(
        text.contains("this cell is not the switch of any window: δ = 0"),
        "{text}"
    );
    // digit_classifier's pool1 at its backward event shows its switches.
    let text = shot(
        bundled("digit_classifier"),
        "n*9",
        (120, 40),
        ColorMode::TrueColor,
    );
    assert!(text.contains("switch 4×8×8"), "{text}");
    // A cell that wins two overlapping windows shows the count.
    let text = shot(
        bundled("overlapping_max_pool"),
        "n*5\nM*2",
        (120, 40),
        ColorMode::TrueColor,
    );
    let main = boxed(&text, "pool1 ·").join("\n");
    assert!(main.contains(" 2 "), "{text}");
}

#[test]
fn the_loss_chart_shows_every_step() {
    let text = shot(
        bundled("digit_classifier"),
        "G",
        (80, 24),
        ColorMode::TrueColor,
    );
    let chart = boxed(&text, " loss");
    let bottom = chart.last().unwrap();
    assert!(
        !bottom.chars().take(20).any(|c| c == ' '),
        "a bar for each of the 20 steps: {bottom:?}\n{text}"
    );
    let text = shot(bundled("diverging"), "G", (80, 24), ColorMode::TrueColor);
    assert!(
        boxed(&text, " loss").last().unwrap().contains('!'),
        "{text}"
    );
}

#[test]
fn the_loss_gradient_gets_numbers_like_the_output() {
    let text = shot(default_scenario(), "n*4", (80, 24), ColorMode::TrueColor);
    let main = boxed(&text, "loss ·");
    let grad = main
        .iter()
        .position(|l| l.contains("∂L/∂y"))
        .expect("∂L/∂y");
    assert!(
        main[grad + 1].contains("-0.23") && main[grad + 1].contains("0.976"),
        "{text}"
    );
}

#[test]
fn formulas_drop_a_stride_of_1_and_repeat_no_value() {
    let text = shot(
        default_scenario(),
        "n*8\nm",
        (120, 40),
        ColorMode::TrueColor,
    );
    assert!(text.contains("x[c, i+u, j+v]"), "{text}");
    let text = shot(default_scenario(), "M*3", (120, 40), ColorMode::TrueColor);
    assert!(
        !text.contains("= 0 = 0") && !text.contains("= 0.15 = 0.15"),
        "{text}"
    );
    let text = shot(
        default_scenario(),
        "n*5\nM\nEnter",
        (120, 40),
        ColorMode::TrueColor,
    );
    assert!(
        !text.contains("−1 ·"),
        "numbers and constants share the ASCII minus:\n{text}"
    );
}

/// The view's cache (tensor summaries, pool masks, the last explanation, kept across
/// frames) is invisible: along a walk forward, back across steps, beyond the scenario's
/// steps and through cell moves, every frame is the frame a state with an empty cache draws.
#[test]
fn frames_drawn_with_the_cache_equal_frames_drawn_afresh() {
    use deltascope::app::maps::ViewCache;
    let mut walk = vec![Action::ToggleFocus];
    for _ in 0..14 {
        walk.extend([Action::NextEvent, Action::CursorRight, Action::NextMap]);
    }
    walk.extend([
        Action::NextStep,
        Action::CursorDown,
        Action::PrevStep,
        Action::PrevEvent,
        Action::RunMore(1),
        Action::End,
        Action::PrevMap,
        Action::Start,
        Action::NextLayer,
        Action::NextStep,
    ]);
    for name in [
        "diverging",
        "overlapping_max_pool",
        "l2_pool",
        "digit_classifier",
    ] {
        let mut state = State::new(bundled(name), Config::default());
        let mut warm = Terminal::new(TestBackend::new(160, 48)).unwrap();
        let mut fresh = Terminal::new(TestBackend::new(160, 48)).unwrap();
        for (i, &action) in walk.iter().enumerate() {
            update(&mut state, action);
            warm.draw(|f| view(&state, f)).unwrap();
            let afresh = State {
                cache: ViewCache::default(),
                ..state.clone()
            };
            fresh.draw(|f| view(&afresh, f)).unwrap();
            assert_eq!(
                warm.backend().buffer(),
                fresh.backend().buffer(),
                "{name}: after action {i} ({action:?}) at {:?}",
                state.pos
            );
        }
    }
}
