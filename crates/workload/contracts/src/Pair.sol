// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

interface IERC20 {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title Pair: a constant-product pool of two ERC-20 tokens (Uniswap-v2 pricing, 0.3% fee).
/// @notice A swap pulls the input token from the caller (who has approved the pair) and pays
/// the output token back, in one call. Storage layout (written directly by the generator):
///   slot 0  token0    address
///   slot 1  token1    address
///   slot 2  reserve0  uint256 (equal to token0.balanceOf(pair))
///   slot 3  reserve1  uint256 (equal to token1.balanceOf(pair))
contract Pair {
    address public token0;
    address public token1;
    uint256 public reserve0;
    uint256 public reserve1;

    event Swap(address indexed trader, bool zeroForOne, uint256 amountIn, uint256 amountOut);

    /// @notice Output for `amountIn` against reserves (reserveIn, reserveOut), after the 0.3% fee.
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 amountInWithFee = amountIn * 997;
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    /// @notice Sells `amountIn` of token0 (zeroForOne) or token1 for the other token; reverts
    /// when the output would be below `minAmountOut`.
    function swap(uint256 amountIn, uint256 minAmountOut, bool zeroForOne) external returns (uint256 amountOut) {
        (address tokenIn, address tokenOut, uint256 reserveIn, uint256 reserveOut) =
            zeroForOne ? (token0, token1, reserve0, reserve1) : (token1, token0, reserve1, reserve0);
        amountOut = getAmountOut(amountIn, reserveIn, reserveOut);
        require(amountOut > 0 && amountOut >= minAmountOut, "Pair: slippage");
        require(IERC20(tokenIn).transferFrom(msg.sender, address(this), amountIn), "Pair: pay in");
        require(IERC20(tokenOut).transfer(msg.sender, amountOut), "Pair: pay out");
        if (zeroForOne) {
            reserve0 = reserveIn + amountIn;
            reserve1 = reserveOut - amountOut;
        } else {
            reserve1 = reserveIn + amountIn;
            reserve0 = reserveOut - amountOut;
        }
        emit Swap(msg.sender, zeroForOne, amountIn, amountOut);
    }
}
