//! Store work runs on the libuv thread pool and comes back as a Promise.
//!
//! One generic task: a closure run off the main thread (panics caught there
//! too, so none crosses into Node), whose error becomes a rejection with our
//! `code`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::{AsyncTask, Env, ToNapiValue, TypeName};
use napi::Task;

use crate::error::NodeError;

type Work<T> = Box<dyn FnOnce() -> Result<T, NodeError> + Send>;

pub struct Job<T> {
    work: Option<Work<T>>,
}

impl<T> Job<T> {
    pub fn new(work: impl FnOnce() -> Result<T, NodeError> + Send + 'static) -> AsyncTask<Self>
    where
        Self: Task,
    {
        AsyncTask::new(Self {
            work: Some(Box::new(work)),
        })
    }
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Job<T> {
    type Output = Result<T, NodeError>;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(match self.work.take() {
            Some(work) => {
                catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| Err(NodeError::panicked()))
            }
            None => Err(NodeError::panicked()),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<T> {
        output.map_err(|e| e.into_rejection(env))
    }
}
