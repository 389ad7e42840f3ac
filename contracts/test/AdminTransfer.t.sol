// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";

/// @notice SPEC §4: a rollup's admin role changes hands in two steps, `transferAdmin` by the admin
///         and `acceptAdmin` by the account offered the role.
contract AdminTransferTest is RegistryFixture {
    event AdminTransferStarted(uint256 indexed chainId, address indexed admin, address indexed pendingAdmin);
    event AdminTransferred(uint256 indexed chainId, address indexed previousAdmin, address indexed newAdmin);
    event MinBondUpdated(uint256 indexed chainId, uint256 minBond);

    function adminOf(uint256 chainId) internal view returns (address rollupAdmin) {
        (rollupAdmin,,) = registry.rollup(chainId);
    }

    function test_transferAdmin_thenAccept() public {
        vm.expectEmit(address(registry));
        emit AdminTransferStarted(ROLLUP, admin, alice);
        vm.prank(admin);
        registry.transferAdmin(ROLLUP, alice);
        vm.assertEq(registry.pendingAdmin(ROLLUP), alice, "offer pending");
        vm.assertEq(adminOf(ROLLUP), admin, "admin unchanged until accepted");

        vm.expectEmit(address(registry));
        emit AdminTransferred(ROLLUP, admin, alice);
        vm.prank(alice);
        registry.acceptAdmin(ROLLUP);
        vm.assertEq(adminOf(ROLLUP), alice, "new admin");
        vm.assertEq(registry.pendingAdmin(ROLLUP), address(0), "offer consumed");
    }

    function test_acceptAdmin_revertsForAStranger() public {
        vm.prank(admin);
        registry.transferAdmin(ROLLUP, alice);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotPendingAdmin.selector, ROLLUP, bob));
        vm.prank(bob);
        registry.acceptAdmin(ROLLUP);
        vm.assertEq(adminOf(ROLLUP), admin, "admin unchanged");
        vm.assertEq(registry.pendingAdmin(ROLLUP), alice, "offer still pending");
    }

    function test_acceptAdmin_revertsWithoutAnOffer() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotPendingAdmin.selector, ROLLUP, alice));
        vm.prank(alice);
        registry.acceptAdmin(ROLLUP);
    }

    function test_acceptAdmin_revertsWhenRepeated() public {
        vm.prank(admin);
        registry.transferAdmin(ROLLUP, alice);
        vm.startPrank(alice);
        registry.acceptAdmin(ROLLUP);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotPendingAdmin.selector, ROLLUP, alice));
        registry.acceptAdmin(ROLLUP);
        vm.stopPrank();
    }

    function test_transferAdmin_revertsForNonAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, ROLLUP, alice));
        vm.prank(alice);
        registry.transferAdmin(ROLLUP, alice);
    }

    function test_transferAdmin_revertsForThePendingAdmin() public {
        vm.prank(admin);
        registry.transferAdmin(ROLLUP, alice);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, ROLLUP, alice));
        vm.prank(alice);
        registry.transferAdmin(ROLLUP, bob);
    }

    function test_transferAdmin_toZeroCancelsTheOffer() public {
        vm.startPrank(admin);
        registry.transferAdmin(ROLLUP, alice);
        vm.expectEmit(address(registry));
        emit AdminTransferStarted(ROLLUP, admin, address(0));
        registry.transferAdmin(ROLLUP, address(0));
        vm.stopPrank();
        vm.assertEq(registry.pendingAdmin(ROLLUP), address(0), "no offer");
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotPendingAdmin.selector, ROLLUP, alice));
        vm.prank(alice);
        registry.acceptAdmin(ROLLUP);
        vm.assertEq(adminOf(ROLLUP), admin, "admin unchanged");
    }

    function test_transferAdmin_newOfferReplacesTheOld() public {
        vm.startPrank(admin);
        registry.transferAdmin(ROLLUP, alice);
        registry.transferAdmin(ROLLUP, bob);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotPendingAdmin.selector, ROLLUP, alice));
        vm.prank(alice);
        registry.acceptAdmin(ROLLUP);
        vm.prank(bob);
        registry.acceptAdmin(ROLLUP);
        vm.assertEq(adminOf(ROLLUP), bob, "the latest offer wins");
    }

    function test_transferAdmin_pendingAdminHasNoRightsYet() public {
        vm.prank(admin);
        registry.transferAdmin(ROLLUP, alice);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, ROLLUP, alice));
        vm.prank(alice);
        registry.setMinBond(ROLLUP, 0);
        vm.prank(admin);
        registry.setMinBond(ROLLUP, 2 ether);
        (, uint256 minBond,) = registry.rollup(ROLLUP);
        vm.assertEq(minBond, 2 ether, "the old admin still rules");
    }

    function test_acceptAdmin_newAdminSetsMinBondAndOldCannot() public {
        vm.prank(admin);
        registry.transferAdmin(ROLLUP, alice);
        vm.prank(alice);
        registry.acceptAdmin(ROLLUP);

        vm.expectEmit(address(registry));
        emit MinBondUpdated(ROLLUP, 7 ether);
        vm.prank(alice);
        registry.setMinBond(ROLLUP, 7 ether);
        (, uint256 minBond,) = registry.rollup(ROLLUP);
        vm.assertEq(minBond, 7 ether, "minBond set by the new admin");

        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, ROLLUP, admin));
        vm.prank(admin);
        registry.setMinBond(ROLLUP, 0);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, ROLLUP, admin));
        vm.prank(admin);
        registry.transferAdmin(ROLLUP, admin);
    }

    function test_transferAdmin_revertsForUnknownRollup() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownRollup.selector, 7));
        vm.prank(admin);
        registry.transferAdmin(7, alice);
    }

    function test_acceptAdmin_revertsForUnknownRollup() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownRollup.selector, 7));
        vm.prank(alice);
        registry.acceptAdmin(7);
    }
}
