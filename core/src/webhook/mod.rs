//! Webhook verification and signing (see DESIGN.md §9).
