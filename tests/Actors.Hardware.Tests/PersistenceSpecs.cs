using Akka.Actor;
using Akka.Configuration;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Hardware.Tests;

public sealed class PersistenceSpecs
{
    private const string U = "dmar0";
    private const string Usb = "0000:00:14.0";
    private const string Gpu = "0000:00:02.0";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static async Task<T> Ask<T>(IActorRef unit, object message) =>
        await unit.Ask<T>(message, Wait);

    [Fact]
    public async Task A_restarted_unit_recovers_domains_mappings_and_contexts_exactly_with_an_empty_iotlb_and_all_tracked_pages_dirty()
    {
        var store = SpecConfig.FreshSqliteStore("hardware-recovery");
        var platform = HardwareModule.LoadPlatform(Config.Empty);
        DomainMappings before;
        DomainMappings beforePlain;
        int tracked, plain;

        var first = ActorSystem.Create("first", SpecConfig.With(store));
        try
        {
            // A snapshot every 4 events, so recovery goes through a snapshot and then events.
            var unit = first.ActorOf(HardwareModule.UnitProps(platform, snapshotFloor: 4)(U), "unit");
            tracked = (await Ask<DomainAllocatedReply>(unit, new AllocateDomain(U, DomainKind.Paging, 0, true, false, []))).DomainId;
            plain = (await Ask<DomainAllocatedReply>(unit, new AllocateDomain(U, DomainKind.Paging, 0, false, false, []))).DomainId;
            for (ulong i = 0; i < 6; i++)
                await Ask<Done>(unit, new MapRange(U, tracked, 0x10000 + i * 0x2000, 0x1000, 0x7000_0000 + i * 0x1000, Access.ReadWrite));
            await Ask<Unmapped>(unit, new UnmapRange(U, tracked, 0x12000, 0x1000, true));
            await Ask<Done>(unit, new MapRange(U, plain, 0x200000, 0x400000, 0x4000_0000, Access.Read));
            await Ask<Done>(unit, new AttachDevice(U, Usb, NoPasid, tracked));
            await Ask<Done>(unit, new AttachDevice(U, Gpu, 7, plain));
            await Ask<DmaCompleted>(unit, new Dma(U, Usb, NoPasid, 0x10000, 8, DmaDirection.Read));
            before = await Ask<DomainMappings>(unit, new GetDomainMappings(U, tracked));
            beforePlain = await Ask<DomainMappings>(unit, new GetDomainMappings(U, plain));
        }
        finally
        {
            await first.Terminate();
        }

        var second = ActorSystem.Create("second", SpecConfig.With(store));
        try
        {
            var unit = second.ActorOf(HardwareModule.UnitProps(platform, snapshotFloor: 4)(U), "unit");
            var after = await Ask<DomainMappings>(unit, new GetDomainMappings(U, tracked));
            Assert.Equal(before.Mappings.ToArray(), after.Mappings.ToArray());
            Assert.Equal(5, after.Mappings.Length);
            var afterPlain = await Ask<DomainMappings>(unit, new GetDomainMappings(U, plain));
            Assert.Equal(beforePlain.Mappings.ToArray(), afterPlain.Mappings.ToArray());
            Assert.Equal([new MappingRecord(0x200000, 0x4000_0000, 0x200000, Access.Read), new MappingRecord(0x400000, 0x4020_0000, 0x200000, Access.Read)], afterPlain.Mappings.ToArray());
            var info = await Ask<UnitInfo>(unit, new GetUnitInfo(U));
            Assert.Equal((2, 2, 0), (info.Domains, info.ContextEntries, info.IotlbEntries));
            var refs = await Ask<PasidReferences>(unit, new GetPasidReferences(U, 7));
            Assert.Equal([new ContextRef(Gpu, 7, plain)], refs.Contexts.ToArray());
            var dirty = await Ask<DirtyPages>(unit, new ReadDirty(U, tracked, 0, 1UL << 32, false));
            Assert.Equal(before.Mappings.Select(m => m.Iova).ToArray(), dirty.Iovas.ToArray());
            var fresh = await Ask<DomainAllocatedReply>(unit, new AllocateDomain(U, DomainKind.Paging, 0, false, false, []));
            Assert.Equal(plain + 1, fresh.DomainId);
        }
        finally
        {
            await second.Terminate();
        }
    }

    [Fact]
    public async Task Pipelined_commands_are_group_committed_answered_in_order_and_a_snapshot_among_them_recovers_each_mapping_once()
    {
        var store = SpecConfig.FreshSqliteStore("hardware-group-commit");
        var platform = HardwareModule.LoadPlatform(Config.Empty);
        const int Maps = 60;
        int domain;
        DomainMappings before;

        var first = ActorSystem.Create("first", SpecConfig.With(store));
        try
        {
            var unit = first.ActorOf(HardwareModule.UnitProps(platform, snapshotFloor: 4)(U), "unit");
            domain = (await Ask<DomainAllocatedReply>(unit, new AllocateDomain(U, DomainKind.Paging, 0, false, false, []))).DomainId;
            // All sent before any reply: the journal batches them while the unit validates each
            // against the state the earlier ones already moved (the duplicate is refused).
            var client = Inbox.Create(first);
            for (var i = 0; i < Maps; i++)
                client.Send(unit, new MapRange(U, domain, (ulong)i * 0x1000, 0x1000, 0x9000_0000 + (ulong)i * 0x1000, Access.ReadWrite));
            client.Send(unit, new MapRange(U, domain, 0x5000, 0x1000, 0x1234_0000, Access.Read));
            var answers = new List<object>();
            for (var i = 0; i <= Maps; i++)
                answers.Add(await client.ReceiveAsync(Wait));
            Assert.All(answers.Take(Maps), a => Assert.IsType<Done>(a));
            Assert.Equal(new Failed(U, Errno.EEXIST), answers[Maps]);
            before = await Ask<DomainMappings>(unit, new GetDomainMappings(U, domain));
        }
        finally
        {
            await first.Terminate();
        }

        var second = ActorSystem.Create("second", SpecConfig.With(store));
        try
        {
            var unit = second.ActorOf(HardwareModule.UnitProps(platform, snapshotFloor: 4)(U), "unit");
            var after = await Ask<DomainMappings>(unit, new GetDomainMappings(U, domain));
            Assert.Equal(Maps, after.Mappings.Length);
            Assert.Equal(before.Mappings.ToArray(), after.Mappings.ToArray());
            // A replayed event applied over a snapshot that already held it would refuse this map.
            Assert.IsType<Done>(await Ask<object>(unit, new MapRange(U, domain, (ulong)Maps * 0x1000, 0x1000, 0x8000_0000, Access.Read)));
        }
        finally
        {
            await second.Terminate();
        }
    }

    [Fact]
    public async Task A_snapshot_written_before_packed_page_tables_still_recovers_and_the_next_one_is_packed()
    {
        var store = SpecConfig.FreshSqliteStore("hardware-old-snapshot");
        var platform = HardwareModule.LoadPlatform(Config.Empty);
        // The form written before: mapping records inside the domains, by Hyperion.
        var old = new SizedUnitSnapshot(new UnitSnapshot(2,
                [new DomainSnapshot(1, DomainKind.Paging, 0, false, false, [],
                    [new MappingRecord(0x1000, 0x9000, 0x1000, Access.ReadWrite), new MappingRecord(0x200000, 0x40_0000, 0x200000, Access.Read)])],
                [new ContextRef(Usb, NoPasid, 1)]),
            System.Collections.Immutable.ImmutableDictionary<int, ulong>.Empty);

        var first = ActorSystem.Create("first", SpecConfig.With(store));
        try
        {
            var writer = first.ActorOf(Props.Create(() => new OldSnapshotWriter($"unit-{U}", old)));
            Assert.IsType<Akka.Persistence.SaveSnapshotSuccess>(await writer.Ask<object>("write", Wait));
        }
        finally
        {
            await first.Terminate();
        }

        var second = ActorSystem.Create("second", SpecConfig.With(store));
        try
        {
            var unit = second.ActorOf(HardwareModule.UnitProps(platform, snapshotFloor: 2)(U), "unit");
            var recovered = await Ask<DomainMappings>(unit, new GetDomainMappings(U, 1));
            Assert.Equal(old.Unit.Domains[0].Mappings.ToArray(), recovered.Mappings.ToArray());
            // As many events as the old snapshot had entries (1 domain, 2 leaves, 1 context): the
            // next snapshot is written, in the packed form.
            for (ulong i = 0; i < 4; i++)
                await Ask<Done>(unit, new MapRange(U, 1, 0x3000 + i * 0x2000, 0x1000, 0xa000 + i * 0x1000, Access.Read));
            await AwaitPackedSnapshot(store, $"unit-{U}");
        }
        finally
        {
            await second.Terminate();
        }

        var third = ActorSystem.Create("third", SpecConfig.With(store));
        try
        {
            var unit = third.ActorOf(HardwareModule.UnitProps(platform, snapshotFloor: 2)(U), "unit");
            var recovered = await Ask<DomainMappings>(unit, new GetDomainMappings(U, 1));
            Assert.Equal([0x1000UL, 0x3000, 0x5000, 0x7000, 0x9000, 0x200000], recovered.Mappings.Select(m => m.Iova));
            Assert.Equal(new ContextRef(Usb, NoPasid, 1), (await Ask<PasidReferences>(unit, new GetPasidReferences(U, NoPasid))).Contexts.Single());
        }
        finally
        {
            await third.Terminate();
        }
    }

    /// <summary>Waits (by polling the store) until the newest snapshot row of the entity is one of the packed serializer's.</summary>
    private static async Task AwaitPackedSnapshot(IommuActors.Core.Persistence.StoreOptions store, string persistenceId)
    {
        for (var tries = 0; tries < 200; tries++)
        {
            using (var connection = new Microsoft.Data.Sqlite.SqliteConnection(store.ConnectionString))
            {
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT serializer_id FROM snapshot WHERE persistence_id = $id ORDER BY sequence_number DESC LIMIT 1";
                command.Parameters.AddWithValue("$id", persistenceId);
                if (command.ExecuteScalar() is long id && id == UnitSnapshotSerializer.Id)
                    return;
            }
            await Task.Delay(50);
        }
        Assert.Fail("no packed snapshot was written");
    }

    /// <summary>Saves one snapshot under a unit's persistence id, as an older build of the unit would have.</summary>
    private sealed class OldSnapshotWriter : Akka.Persistence.ReceivePersistentActor
    {
        public override string PersistenceId { get; }

        public OldSnapshotWriter(string persistenceId, object snapshot)
        {
            PersistenceId = persistenceId;
            IActorRef? asker = null;
            Command<string>(_ =>
            {
                asker = Sender;
                SaveSnapshot(snapshot);
            });
            Command<Akka.Persistence.SaveSnapshotSuccess>(s => asker!.Tell(s));
            Command<Akka.Persistence.SaveSnapshotFailure>(f => asker!.Tell(f));
        }
    }
}
