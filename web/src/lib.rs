//! The svcsim web app as a library: the Yew components ([`app`], [`ui`]) and the pure modules
//! they are built on — the reducer ([`model`]), view models ([`frame`], [`view`], [`layout`], [`scene`], [`tags`]), link state
//! ([`fragment`]), lessons and exports — which are tested natively and fuzzed (`fuzz/`).

pub mod app;
pub mod browser;
pub mod chart;
pub mod editor;
pub mod engine;
pub mod export;
pub mod fragment;
pub mod frame;
pub mod layout;
pub mod lesson;
pub mod model;
pub mod scene;
pub mod tags;
pub mod ui;
pub mod view;
