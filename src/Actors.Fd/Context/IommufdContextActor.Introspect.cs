namespace IommuActors.Fd.Context;

// Read-only questions about the context (its live object table) for iommuctl's contexts, objects
// and graph commands. They are answered in every state: they change nothing and wait for nothing.
public sealed partial class IommufdContextActor
{
    private void Introspection()
    {
    }
}
