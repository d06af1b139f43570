//! Typed errors of the kernel layer: every error names the object it concerns.
use std::io;

/// An error talking to the kernel.
#[derive(thiserror::Error, Debug)]
pub enum KernelError {
    /// The kernel refused a netlink request.
    #[error("{object}: {op}: {message}")]
    Netlink {
        /// The object concerned, e.g. `node a link eth0`.
        object: String,
        /// The operation attempted, e.g. `create link`.
        op: String,
        /// The positive errno the kernel returned (0 when it sent none).
        errno: i32,
        /// The kernel's extended-ACK text if it sent one, else strerror(errno).
        message: String,
    },
    /// A system call or file operation failed.
    #[error("{object}: {source}")]
    Io {
        /// The object concerned, e.g. a path or a namespace name.
        object: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The kernel answered with something netloom could not understand.
    #[error("{object}: unexpected kernel answer: {message}")]
    Decode {
        /// The object concerned.
        object: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// A caller passed something the kernel layer refuses before asking the kernel.
    #[error("{object}: {message}")]
    Invalid {
        /// The object concerned.
        object: String,
        /// Why it is refused.
        message: String,
    },
    /// A helper thread (used to enter a namespace) panicked.
    #[error("{object}: namespace helper thread panicked")]
    Thread {
        /// The namespace or object the thread worked on.
        object: String,
    },
}

impl KernelError {
    /// An [`KernelError::Io`] for `object`.
    pub fn io(object: impl Into<String>, source: io::Error) -> Self {
        KernelError::Io {
            object: object.into(),
            source,
        }
    }

    /// The errno carried by this error, if it came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Netlink { errno, .. } => Some(*errno),
            KernelError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
