//! The templates under `deploy/`, read into trees, and the ways the checks look into them.

use audioproc_testdata::harness::systemd_unit::{Unit, written_file};
use audioproc_testdata::harness::yaml_tree::{Yaml, parse};

/// Every template under `deploy/`, by file name.
pub const SOURCES: [(&str, &str); 8] = [
    ("stack.yaml", include_str!("../../../deploy/stack.yaml")),
    ("network.yaml", include_str!("../../../deploy/network.yaml")),
    ("edge.yaml", include_str!("../../../deploy/edge.yaml")),
    ("data.yaml", include_str!("../../../deploy/data.yaml")),
    ("bucket.yaml", include_str!("../../../deploy/bucket.yaml")),
    ("app.yaml", include_str!("../../../deploy/app.yaml")),
    ("lambda.yaml", include_str!("../../../deploy/lambda.yaml")),
    ("workers.yaml", include_str!("../../../deploy/workers.yaml")),
];

pub const UNIT_PATH: &str = "/etc/systemd/system/audioproc-serve.service";

/// The templates, read.
pub struct Templates(Vec<(&'static str, Yaml)>);

impl Templates {
    pub fn read() -> Templates {
        Templates::from_sources(&SOURCES.map(|(name, text)| (name, text.to_owned())))
    }

    pub fn from_sources(sources: &[(&'static str, String)]) -> Templates {
        Templates(
            sources.iter().map(|(name, text)| (*name, parse(text).unwrap_or_else(|e| panic!("{name}: {e}")))).collect(),
        )
    }

    pub fn get(&self, file: &str) -> &Yaml {
        self.0.iter().find(|(name, _)| *name == file).map(|(_, t)| t).unwrap_or_else(|| panic!("no {file}"))
    }

    /// The properties of `resource` in `file`.
    pub fn props(&self, file: &str, resource: &str) -> &Yaml {
        self.get(file).at(&["Resources", resource, "Properties"]).unwrap_or_else(|| panic!("{file}: no {resource}"))
    }

    /// The parameters `stack.yaml` passes to its nested application `name`, after checking
    /// that it nests `location`.
    pub fn nested(&self, name: &str, location: &str) -> &Yaml {
        let app = self.props("stack.yaml", name);
        assert_eq!(app.get("Location").and_then(Yaml::str), Some(location), "stack.yaml: {name}");
        app.get("Parameters").unwrap_or_else(|| panic!("stack.yaml: {name} has no Parameters"))
    }

    /// The systemd unit and the whole user data script of the app's launch template.
    pub fn app_unit(&self) -> (Unit, String) {
        let script = self
            .props("app.yaml", "AppLaunchTemplate")
            .at(&["LaunchTemplateData", "UserData", "Fn::Base64"])
            .and_then(Yaml::sub_template)
            .expect("app.yaml: no Fn::Base64 / Fn::Sub user data")
            .to_owned();
        let text =
            written_file(&script, UNIT_PATH).unwrap_or_else(|| panic!("the user data doesn't write {UNIT_PATH}"));
        (Unit::parse(&text).expect("the unit reads"), script)
    }

    /// Every statement of the app role's policies, each `Fn::If` opened.
    pub fn app_statements(&self) -> Vec<&Yaml> {
        let policies = self.props("app.yaml", "AppRole").get("Policies").expect("AppRole has no Policies");
        policies
            .items()
            .iter()
            .flat_map(|p| p.at(&["PolicyDocument", "Statement"]).map_or(vec![], Yaml::each_alternative))
            .collect()
    }
}

pub fn text(node: Option<&Yaml>) -> Option<&str> {
    node.and_then(Yaml::str)
}

pub fn reference(node: Option<&Yaml>) -> Option<&str> {
    node.and_then(Yaml::reference)
}

/// `Fn::GetAtt: [Resource, Attribute]` → `("Resource", "Attribute")`.
pub fn get_att(node: &Yaml) -> Option<(&str, &str)> {
    let (_, args) = node.intrinsic().filter(|(f, _)| *f == "Fn::GetAtt")?;
    Some((args.items().first()?.str()?, args.items().get(1)?.str()?))
}

/// Resources of `file` of the given type.
pub fn resources_of_type<'t>(t: &'t Templates, file: &str, kind: &str) -> Vec<(&'t str, &'t Yaml)> {
    let resources = t.get(file).get("Resources").map_or(&[][..], Yaml::entries);
    resources.iter().filter(|(_, r)| text(r.get("Type")) == Some(kind)).map(|(n, r)| (n.as_str(), r)).collect()
}
