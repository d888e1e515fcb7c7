use burn::module::DisplaySettings;

/// The display settings every loss uses: its options on one line, as burn-nn's losses.
pub(crate) fn one_line_display() -> Option<DisplaySettings> {
    DisplaySettings::new()
        .with_new_line_after_attribute(false)
        .optional()
}
