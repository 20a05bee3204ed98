//! The memory the host shares with the shaders, defined once: each block is a Rust struct of
//! `u32` words made by `shared_layout!`, which also lists its fields' names and byte offsets
//! for each kernel's test, which reads its WGSL (with `check`) and checks that the shader lays
//! every member out where the host puts it.

/// Defines a `#[repr(C)]` block of `u32` words that a shader declares under the same name,
/// with `FIELDS`, the name and byte offset of each field, for the test that the two agree.
macro_rules! shared_layout {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub(super) struct $name {
            $($(#[$field_doc])* pub(super) $field: $ty,)*
        }

        #[cfg(test)]
        impl $name {
            /// Each field's name and byte offset, as the shader must have them.
            pub(super) const FIELDS: &[(&str, usize)] =
                &[$((stringify!($field), std::mem::offset_of!($name, $field)),)*];
        }
    };
}
pub(super) use shared_layout;

/// What the tests of each kernel use to check that its shader lays every shared block out as
/// the host does.
#[cfg(test)]
pub(super) mod check {
    use naga::{Module, TypeInner};

    pub(in super::super) fn parse(source: &str) -> Module {
        naga::front::wgsl::parse_str(source).expect("the shader parses")
    }

    /// The members (name, offset) and size of the shader's struct `name`.
    fn members(module: &Module, name: &str) -> (Vec<(String, usize)>, usize) {
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, ty)| ty.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no struct {name} in the shader"));
        let TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{name} is not a struct");
        };
        let members = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
            .collect();
        (members, *span as usize)
    }

    /// Checks that the shader's struct `name` has `fields` at their offsets, and `size` bytes.
    pub(in super::super) fn agree(
        module: &Module,
        name: &str,
        fields: &[(&str, usize)],
        size: usize,
    ) {
        let (members, span) = members(module, name);
        let host: Vec<(String, usize)> = fields.iter().map(|&(f, o)| (f.to_owned(), o)).collect();
        assert_eq!(members, host, "{name}: members differ");
        assert_eq!(span, size, "{name}: sizes differ");
    }

    /// The stride of the array the global `name` holds.
    pub(in super::super) fn array_stride(module: &Module, name: &str) -> usize {
        let (_, global) = module
            .global_variables
            .iter()
            .find(|(_, g)| g.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no global {name} in the shader"));
        match module.types[global.ty].inner {
            TypeInner::Array { stride, .. } => stride as usize,
            ref other => panic!("{name} is {other:?}"),
        }
    }

    #[test]
    fn a_difference_is_found() {
        let module = parse("struct Params { a: u32, b: u32, }");
        let result = std::panic::catch_unwind(|| {
            agree(&module, "Params", &[("a", 0), ("c", 4)], 8);
        });
        assert!(result.is_err());
    }
}
